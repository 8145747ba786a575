using System.Text.Json;
using PiSa.Engine.Pipeline.VaeTiling;
using PiSa.Engine.Tensors;
using Xunit.Abstractions;

namespace PiSa.Tests.Models.Vae;

/// <summary>PiSA-SR's VAEHook tiling against the official run recorded in case f_default_vaetiled
/// (manifest "vae_tiling": boxes, pads, tile counts; expected tensors lq_latent and decoded).</summary>
public class VaeTilingTests(ITestOutputHelper log)
{
    private const double Tol = 1e-4;

    private static JsonElement Manifest()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixturePaths.Tiny, "manifest.json")));
        return doc.RootElement.Clone();
    }

    private static TileBox Box(JsonElement e)
    {
        var v = e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
        return new TileBox(v[0], v[1], v[2], v[3]);
    }

    [Fact]
    public void Split_reproduces_the_official_boxes_of_every_recorded_tiling()
    {
        int checkedRuns = 0;
        foreach (var c in Manifest().GetProperty("cases").EnumerateArray())
        {
            foreach (var run in c.GetProperty("vae_tiling").EnumerateArray())
            {
                bool dec = run.GetProperty("is_decoder").GetBoolean();
                var hw = run.GetProperty("input_hw").EnumerateArray().Select(x => x.GetInt32()).ToArray();
                int tile = run.GetProperty("tile_size").GetInt32();
                Assert.Equal(run.GetProperty("pad").GetInt32(), VaeTileSplitter.PadFor(dec));
                Assert.True(VaeTileSplitter.NeedsTiling(hw[0], hw[1], tile, dec));
                var plan = VaeTileSplitter.Split(hw[0], hw[1], tile, dec);
                Assert.Equal(run.GetProperty("n_tiles").GetInt32(), plan.TileCount);
                Assert.Equal(run.GetProperty("input_bboxes").EnumerateArray().Select(Box).ToArray(), plan.InputBoxes);
                Assert.Equal(run.GetProperty("output_bboxes").EnumerateArray().Select(Box).ToArray(), plan.OutputBoxes);
                checkedRuns++;
            }
        }
        Assert.True(checkedRuns >= 2, "the manifest should record an encoder and a decoder tiling");
    }

    [Fact]
    public void Cases_without_recorded_tiling_stay_below_the_threshold()
    {
        foreach (var c in Manifest().GetProperty("cases").EnumerateArray())
        {
            var wh = c.GetProperty("model_input_size_wh").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            int enc = c.GetProperty("vae_encoder_tiled_size").GetInt32(), dec = c.GetProperty("vae_decoder_tiled_size").GetInt32();
            var runs = c.GetProperty("vae_tiling").EnumerateArray().ToList();
            bool encTiled = runs.Any(r => !r.GetProperty("is_decoder").GetBoolean());
            bool decTiled = runs.Any(r => r.GetProperty("is_decoder").GetBoolean());
            Assert.Equal(encTiled, VaeTileSplitter.NeedsTiling(wh[1], wh[0], enc, isDecoder: false));
            Assert.Equal(decTiled, VaeTileSplitter.NeedsTiling(wh[1] / 8, wh[0] / 8, dec, isDecoder: true));
        }
    }

    [Theory]
    // (lowerbound, upperbound) -> VAEHook.get_best_tile_size, worked by hand from the Python source.
    [InlineData(24, 32, 32)]
    [InlineData(5, 8, 8)]
    [InlineData(-8, 8, 0)]    // Python: -8 % 32 == 24 -> candidate 0
    [InlineData(100, 224, 128)]
    [InlineData(200, 224, 224)]
    [InlineData(210, 224, 224)]
    [InlineData(226, 230, 228)]
    [InlineData(227, 227, 227)]
    public void BestTileSize_follows_python_semantics(int lo, int hi, int expected) =>
        Assert.Equal(expected, VaeTileSplitter.BestTileSize(lo, hi));

    [Fact]
    public void Tiled_encoder_matches_official_lq_latent()
    {
        var f = VaeFixtures.Case("f_default_vaetiled");
        using var ops = AutoencoderKLTests.NewOps();
        var vae = AutoencoderKLTests.TinyVae(ops);
        var x = VaeFixtures.NhwcOf(f, "input_image");
        var mean = VaeFixtures.Run(ops, x, t => TiledVae.EncodeMean(vae, t, 32));
        var lq = VaeFixtures.Map(mean, v => v * vae.Config.ScalingFactor);
        var expected = VaeFixtures.NhwcOf(f, "lq_latent");
        double err = Metrics.RelativeL2(lq, expected);

        // The fixture must tell tiling apart from the plain forward, or this test could not fail.
        var plain = VaeFixtures.Map(VaeFixtures.Run(ops, x, vae.EncodeMean), v => v * vae.Config.ScalingFactor);
        double plainErr = Metrics.RelativeL2(plain, expected);
        log.WriteLine($"tiled encoder vs official: rel L2 {err:E2}; plain encoder vs official tiled: {plainErr:E2}");
        Assert.True(err < Tol, $"tiled encode: rel L2 {err}");
        Assert.True(plainErr > 100 * Tol, $"plain and tiled encodes should differ, rel L2 {plainErr}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tiled_decoder_matches_official_decoded(bool parkTilesOnHost)
    {
        var f = VaeFixtures.Case("f_default_vaetiled");
        using var ops = AutoencoderKLTests.NewOps();
        var vae = AutoencoderKLTests.TinyVae(ops);
        var z = VaeFixtures.Map(VaeFixtures.NhwcOf(f, "hq_latent"), v => v / vae.Config.ScalingFactor);
        var y = VaeFixtures.Map(VaeFixtures.Run(ops, z, t => TiledVae.Decode(vae, t, 8, parkTilesOnHost)), v => Math.Clamp(v, -1f, 1f));
        var expected = VaeFixtures.NhwcOf(f, "decoded");
        double err = Metrics.RelativeL2(y, expected);
        log.WriteLine($"tiled decoder (park {parkTilesOnHost}) vs official: rel L2 {err:E2}");
        Assert.True(err < Tol, $"tiled decode: rel L2 {err}");
        if (!parkTilesOnHost)
        {
            var plain = VaeFixtures.Map(VaeFixtures.Run(ops, z, vae.Decode), v => Math.Clamp(v, -1f, 1f));
            double plainErr = Metrics.RelativeL2(plain, expected);
            log.WriteLine($"plain decoder vs official tiled: rel L2 {plainErr:E2}");
            Assert.True(plainErr > 100 * Tol, $"plain and tiled decodes should differ, rel L2 {plainErr}");
        }
    }

    [Fact]
    public void Below_the_threshold_the_plain_forward_runs()
    {
        var m = VaeFixtures.Modules();
        using var ops = AutoencoderKLTests.NewOps();
        var vae = AutoencoderKLTests.TinyVae(ops);
        var x = VaeFixtures.NhwcOf(m, "vae.encode.in"); // 80x64: max 80 <= 16 + 2*32
        var tiled = VaeFixtures.Run(ops, x, t => TiledVae.EncodeMean(vae, t, 16));
        var plain = VaeFixtures.Run(ops, x, vae.EncodeMean);
        Assert.Equal(plain.Data, tiled.Data);
    }

    [Fact]
    public void PoolStatistics_weights_tiles_by_pixel_count()
    {
        // Two tiles, one (batch, group) pair: means 1 and 4, variances 2 and 8, 100 and 300 pixels.
        var pooled = TiledVae.PoolStatistics([[1f, 2f], [4f, 8f]], [100, 300], 1);
        Assert.Equal(0.25 * 1 + 0.75 * 4, pooled[0], 5);
        Assert.Equal(0.25 * 2 + 0.75 * 8, pooled[1], 5); // weighted variances, not the variance of the union
    }
}
