using PiSa.Engine;
using PiSa.Engine.Api;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;
using static PiSa.Tests.Api.PisaUpscalerTests;

namespace PiSa.Tests.Api;

/// <summary>The extras of one library call that `pisa upscale` and `pisa bench` are built on: the lambda grid, the
/// file door's several outputs, the memory check, steps 6-10 time and cold labels.</summary>
public sealed class PisaUpscalerCallTests
{
    private static string InputPath(char c) => Path.Combine(FixturePaths.Tiny, "inputs", $"lq_{c}.png");

    [Fact]
    public async Task A_grid_call_gives_each_pair_a_separate_call_gives_and_the_file_door_writes_them_and_a_sheet()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        using var dir = new TempDir();
        var o = Small with { Mode = LoraMode.Adjustable, LatentTile = 4, LatentOverlap = 1 };
        var grid = new LambdaGrid([0.5f, 1f], [1.2f, 0f]);
        var outputs = grid.Pairs.Select((_, k) => dir.File($"p{k}.png")).ToList();
        var outcome = await up.UpscaleFileAsync(InputPath('e'), new UpscaleFileTargets { Outputs = outputs, ContactSheet = dir.File("sheet.png") },
            o, new UpscaleCall { Grid = grid });
        Assert.Equal(4, outcome.Results.Count);
        Assert.Equal("decode", outcome.Stages[0].Stage);
        Assert.Equal("save", outcome.Stages[^1].Stage);
        var source = ImageIO.Load(InputPath('e'));
        for (int k = 0; k < grid.Pairs.Count; k++)
        {
            var (pix, sem) = grid.Pairs[k];
            Assert.Equal((pix, sem), (outcome.Results[k].LambdaPix, outcome.Results[k].LambdaSem));
            var separate = await up.UpscaleAsync(source, o with { LambdaPix = pix, LambdaSem = sem });
            Assert.Equal(separate.Image.Data, outcome.Results[k].Output.Rgb.Data);
            Assert.Equal(separate.Image.Data, ImageIO.Load(outputs[k]).Data);
        }
        Assert.NotEqual(outcome.Results[0].Output.Rgb.Data, outcome.Results[1].Output.Rgb.Data); // the lambdas were used
        var sheet = ImageIO.Load(dir.File("sheet.png"));
        var one = outcome.Image;
        Assert.Equal((2 * (one.Width + ContactSheet.Gap) + ContactSheet.Gap, 2 * (one.Height + ContactSheet.Gap) + ContactSheet.Gap), (sheet.Width, sheet.Height));
    }

    [Fact]
    public async Task Bad_calls_are_refused_before_any_work()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        using var dir = new TempDir();
        var image = new SourceImage { Rgb = ImageIO.Load(InputPath('a')) };
        var grid = new LambdaGrid([0.5f, 1f], [1f]);
        Assert.Contains("adjustable", (await Assert.ThrowsAsync<PisaException>(() => up.UpscaleAsync(image, Small, new UpscaleCall { Grid = grid }))).Message);
        await Assert.ThrowsAsync<PisaException>(() => up.UpscaleAsync(image, Small with { Mode = LoraMode.Adjustable }, new UpscaleCall { Grid = grid, KeepTensors = true }));
        // Two pairs need two output paths.
        await Assert.ThrowsAsync<ArgumentException>(() => up.UpscaleFileAsync(InputPath('a'), UpscaleFileTargets.One(dir.File("o.png")),
            Small with { Mode = LoraMode.Adjustable }, new UpscaleCall { Grid = grid }));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public async Task The_memory_check_refuses_a_call_above_the_budget_before_any_work()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        using var dir = new TempDir();
        var tiny = new MemoryBudget(1 << 20, "test");
        var e = await Assert.ThrowsAsync<PisaException>(() => up.UpscaleFileAsync(InputPath('a'), UpscaleFileTargets.One(dir.File("o.png")), Small,
            new UpscaleCall { Memory = tiny }));
        Assert.Contains("memory budget", e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path)); // refused before anything was written

        Assert.DoesNotContain("at any tiling", e.Message);
        // With automatic tiling every tiling was tried first; a budget that fits runs.
        var image = new SourceImage { Rgb = ImageIO.Load(InputPath('a')) };
        var auto = await Assert.ThrowsAsync<PisaException>(() => up.UpscaleAsync(image, Small, new UpscaleCall { Memory = tiny, AutoTiling = true }));
        Assert.Contains("at any tiling", auto.Message);
        var need = MemoryEstimator.ForImage(ModelFootprint.Of(up.Model), up.Backend, image.Width, image.Height, Small);
        var ok = await up.UpscaleAsync(image, Small, new UpscaleCall { Memory = new MemoryBudget(need.Total, "test") });
        Assert.Equal((await up.UpscaleAsync(image.Rgb, Small)).Image.Data, ok.Image.Data);
        await Assert.ThrowsAsync<PisaException>(() => up.UpscaleAsync(image, Small, new UpscaleCall { Memory = new MemoryBudget(need.Total - 1, "test") }));
    }

    [Fact]
    public async Task Calls_are_labelled_cold_for_what_they_had_to_do_first_and_time_steps_6_to_10()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        var a = ImageIO.Load(InputPath('a'));
        var first = await up.UpscaleAsync(a, Small);
        Assert.Equal(["prompt encoded", "weight set built", "new input size"], first.Cold);
        var again = await up.UpscaleAsync(a, Small);
        Assert.Empty(again.Cold);
        Assert.Equal(["prompt encoded"], (await up.UpscaleAsync(a, Small with { Prompt = "a photo" })).Cold);
        Assert.Equal(["weight set built"], (await up.UpscaleAsync(a, Small with { Mode = LoraMode.Fused, LambdaPix = 0.5f })).Cold);
        Assert.Equal(["new input size"], (await up.UpscaleAsync(ImageIO.Load(InputPath('e')), Small)).Cold);

        // Steps 6-10: at least the four model stages, at most the whole run.
        double model = again.Stages.Where(s => s.Stage is "text encoder" or "vae encode" or "unet" or "vae decode").Sum(s => s.Milliseconds);
        Assert.InRange(again.ModelMilliseconds, model, again.RunMilliseconds);
        Assert.True(again.ModelMilliseconds > 0);
    }
}
