using System.Text.Json;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace PiSa.Tests.Cli;

/// <summary>
/// Issue 10, item 8: `-t 0` chooses the latent tile from the memory budget. The budgets are the estimator's own
/// figures for this model and image (the one model of a run's memory), so each run must land on a known tile;
/// each result must equal an explicit run at the tile it chose, and differ from the untiled result.
/// </summary>
public sealed class AutoTileCliTests
{
    // lq_f is 64x28: at --process-size 64 and x4 the model input is 256x112, a 32x14 latent; the tiles tried are
    // untiled (32), 14 (the shorter side), then 8.
    private static readonly string Input = CliImageTests.Input("lq_f.png");

    private static long Estimate(int tile, int overlap)
    {
        using var ops = new CpuOps();
        using var model = PisaModel.Load(CliImageTests.Sd, CliImageTests.Lora, ops);
        var image = ImageDecoder.Load(Input);
        var o = new UpscaleOptions { ProcessSize = 64, LatentTile = tile, LatentOverlap = overlap };
        return MemoryEstimator.ForImage(ModelFootprint.Of(model), "cpu", image.Width, image.Height, o, HostImages.Of(image)).Total;
    }

    private static JsonElement Plan(PisaProcess.Result r) =>
        r.StderrLines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "plan");

    private static Rgba32[] Pixels(string path) => CliImageTests.Pixels(path);

    [Fact]
    public void Tile_zero_picks_the_largest_tile_that_fits_the_budget_and_equals_an_explicit_run_at_it()
    {
        long untiled = Estimate(32, 31), tile14 = Estimate(14, 4), tile8 = Estimate(8, 2);
        Assert.True(untiled > tile14 && tile14 > tile8, $"estimates untiled {untiled}, 14: {tile14}, 8: {tile8}");
        using var dir = new TempDir();

        // A budget of exactly the 14-tile estimate: untiled does not fit, 14 does.
        string auto = dir.File("auto.png");
        var r = CliImageTests.Ok(CliImageTests.Upscale(Input, auto, "-t", "0", "--max-memory", tile14.ToString(), "--progress", "json"));
        var plan = Plan(r);
        Assert.Equal(14, plan.GetProperty("latent_tile").GetInt32());
        Assert.Equal(4, plan.GetProperty("latent_overlap").GetInt32());
        Assert.Equal(tile14, plan.GetProperty("estimated_bytes").GetInt64());
        Assert.Contains("latent tile 14 (overlap 4) is the largest that fits", r.Stderr);

        string explicit14 = dir.File("explicit14.png");
        CliImageTests.Ok(CliImageTests.Upscale(Input, explicit14, "--tile", "14", "--latent-overlap", "4"));
        Assert.Equal(Pixels(explicit14), Pixels(auto));

        // One byte less: the next tile down.
        var r8 = CliImageTests.Ok(CliImageTests.Upscale(Input, dir.File("auto8.png"), "-t", "0", "--max-memory", (tile14 - 1).ToString(), "--progress", "json"));
        Assert.Equal(8, Plan(r8).GetProperty("latent_tile").GetInt32());

        // Enough memory: untiled, which gives another image (so the equality above can fail).
        string big = dir.File("untiled.png");
        var ru = CliImageTests.Ok(CliImageTests.Upscale(Input, big, "-t", "0", "--max-memory", "8G", "--progress", "json"));
        Assert.Equal(0, Plan(ru).GetProperty("latent_tile").GetInt32());
        Assert.NotEqual(Pixels(big), Pixels(auto));
    }

    [Fact]
    public void Tile_zero_below_every_estimate_is_refused_in_one_line()
    {
        using var dir = new TempDir();
        string output = dir.File("o.png");
        var r = PisaProcess.Run(CliImageTests.Upscale(Input, output, "-t", "0", "--max-memory", (Estimate(8, 2) - 1).ToString()));
        Assert.Equal(1, r.ExitCode);
        Assert.Single(r.StderrLines, l => l.StartsWith("pisa: error:", StringComparison.Ordinal) && l.Contains("memory budget"));
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Tile_zero_outside_pisa_upscale_is_refused()
    {
        var e = Assert.Throws<PiSa.Engine.PisaException>(() => new UpscaleOptions { LatentTile = 0 }.Validate());
        Assert.Contains("--latent-tile 0", e.Message);
        new UpscaleOptions { LatentTile = 0 }.Validate(latentTileMayBeAutomatic: true);
    }
}
