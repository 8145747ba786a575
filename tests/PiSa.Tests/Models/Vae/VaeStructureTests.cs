using System.Text.Json;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Descriptions;
using PiSa.Engine.Models.Vae;
using PiSa.Engine.Pipeline.VaeTiling;

namespace PiSa.Tests.Models.Vae;

/// <summary>Config-driven structure: parameter names/shapes against real files, other tiny configs with
/// random weights, and the tile machinery against the plain forward where both must agree exactly.</summary>
public class VaeStructureTests
{
    /// <summary>The tensors AutoencoderKL actually reads (name and shape) when built from <paramref name="weights"/>.</summary>
    private static Dictionary<string, int[]> UsedParameters(VaeConfig cfg, IWeightSource weights)
    {
        var recorder = new RecordingWeightSource(weights);
        using var ops = new NaiveVaeOps();
        _ = new AutoencoderKL(cfg, recorder, ops);
        return recorder.Used;
    }

    /// <summary>Zero tensors of the description's names and shapes: what a VAE built from them reads must be all of them.</summary>
    private static IWeightSource DescribedZeros(VaeConfig cfg) =>
        new DictionaryWeightSource(VaeDescription.Build(cfg).ToDictionary(p => p.Name, p => new PiSa.Engine.Tensors.HostTensor(p.Shape)), "vae description");

    private static void AssertSameShapes(Dictionary<string, int[]> expected, Dictionary<string, int[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (k, v) in expected) Assert.True(v.SequenceEqual(actual[k]), $"{k}: [{string.Join(",", actual[k])}] vs [{string.Join(",", v)}]");
    }

    [Fact]
    public void Parameters_of_the_tiny_vae_are_exactly_the_file_tensors()
    {
        var file = VaeFixtures.ReadF32(Path.Combine(VaeFixtures.VaeDir, "diffusion_pytorch_model.safetensors"));
        var cfg = VaeFixtures.TinyVaeConfig();
        var fileShapes = file.ToDictionary(kv => kv.Key, kv => kv.Value.Shape);
        AssertSameShapes(fileShapes, UsedParameters(cfg, new DictionaryWeightSource(file, "tiny vae")));
        AssertSameShapes(fileShapes, UsedParameters(cfg, DescribedZeros(cfg)));
    }

    [Fact]
    public void Parameters_of_sd21_vae_are_exactly_the_diffusers_state_dict()
    {
        var cfg = PiSa.Engine.Formats.DiffusersConfig.LoadVae(Path.Combine(FixturePaths.Sd21, "vae", "config.json"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixturePaths.Sd21, "tensor_shapes.json")));
        var expected = doc.RootElement.GetProperty("vae").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(e => e.GetInt32()).ToArray());
        AssertSameShapes(expected, UsedParameters(cfg, DescribedZeros(cfg)));
    }

    /// <summary>A VAE unlike SD's: 3 blocks (factor 4), 1 layer per block, 16 groups, 3 latent channels.</summary>
    private static VaeConfig OtherConfig() => new()
    {
        BlockOutChannels = [32, 64, 64],
        DownBlockTypes = ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
        UpBlockTypes = ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
        LayersPerBlock = 1,
        LatentChannels = 3,
        NormNumGroups = 16,
    };

    private static AutoencoderKL RandomVae(VaeConfig cfg, NaiveVaeOps ops) =>
        new(cfg, RandomWeights.Source(VaeDescription.Build(cfg).Select(p => (p.Name, p.Shape)), 7, "random vae"), ops);

    private static PiSa.Engine.Tensors.HostTensor RandomImage(int h, int w, int c, int seed)
    {
        var rng = new Random(seed);
        var t = new PiSa.Engine.Tensors.HostTensor(1, h, w, c);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }

    [Fact]
    public void Other_config_runs_with_its_own_widths_and_factor()
    {
        using var ops = new NaiveVaeOps();
        var vae = RandomVae(OtherConfig(), ops);
        Assert.Equal(4, vae.ScaleFactor);
        var mean = VaeFixtures.Run(ops, RandomImage(24, 20, 3, 1), vae.EncodeMean);
        Assert.Equal([1, 6, 5, 3], mean.Shape);
        var img = VaeFixtures.Run(ops, mean, vae.Decode);
        Assert.Equal([1, 24, 20, 3], img.Shape);
        Assert.All(img.Data, v => Assert.True(float.IsFinite(v)));
        // Every norm of the plain line uses the config's 16 groups; the VAEHook line uses its fixed 32.
        Assert.All(vae.EncoderSteps.OfType<VaeNormStep>(), n => Assert.Equal(16, n.Groups));
        Assert.All(vae.DecoderHookSteps.OfType<VaeNormStep>(), n => Assert.Equal(32, n.Groups));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tiles_that_each_see_the_whole_input_reproduce_the_plain_forward(bool decoder)
    {
        // Two "tiles" whose input box is the whole input: pooled statistics equal the whole-input ones and
        // attention sees every position, so the tiled machinery (rounds, pooling, crop, paste) must give
        // exactly the plain run of the same step line, whatever the config.
        using var ops = new NaiveVaeOps();
        var vae = RandomVae(OtherConfig(), ops);
        var steps = decoder ? vae.DecoderHookSteps : vae.EncoderHookSteps;
        int h = decoder ? 6 : 24, w = decoder ? 5 : 20, c = decoder ? 3 : 3, f = vae.ScaleFactor;
        int oh = decoder ? h * f : h / f, ow = decoder ? w * f : w / f;
        var whole = new TileBox(0, w, 0, h);
        var plan = new VaeTilePlan(h, w, 1, 0, decoder, f, 1, 2, h, w / 2,
            [whole, whole], [new TileBox(0, ow / 2, 0, oh), new TileBox(ow / 2, ow, 0, oh)]);
        var x = RandomImage(h, w, c, 2);
        var tiled = VaeFixtures.Run(ops, x, t => TiledVae.RunTiled(ops, steps, t, plan));
        var plain = VaeFixtures.Run(ops, x, t =>
        {
            using var cur = new VaeStepCursor(ops, steps, t);
            cur.RunToEnd();
            return cur.TakeResult();
        });
        Assert.Equal(plain.Shape, tiled.Shape);
        Assert.True(Metrics.RelativeL2(tiled, plain) < 1e-6);
    }
}
