using PiSa.Engine;
using PiSa.Engine.Api;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Tests.Api;

/// <summary>The library door on the tiny fixture model (CPU): same pixels as the pipeline, many callers, progress,
/// cancellation, bad input.</summary>
public sealed class PisaUpscalerTests
{
    internal static PisaUpscalerOptions TinyOptions => new()
    {
        ModelDir = Path.Combine(FixturePaths.Tiny, "sd"),
        LoraPath = Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"),
        Device = "cpu",
    };

    internal static readonly UpscaleOptions Small = new() { ProcessSize = 64 };

    private static RgbImage Input(char c) => ImageIO.Load(Path.Combine(FixturePaths.Tiny, "inputs", $"lq_{c}.png"));

    private static byte[] Direct(RgbImage input, UpscaleOptions o)
    {
        using var ops = new CpuOps();
        using var model = PisaModel.Load(TinyOptions.ModelDir, TinyOptions.LoraPath, ops);
        return new UpscalePipeline(model).Run(input, o).Output.Data;
    }

    [Fact]
    public async Task Result_is_the_pipelines_result_with_stage_times()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        var input = Input('a');
        var outcome = await up.UpscaleAsync(input, Small);
        Assert.Equal(Direct(input, Small), outcome.Image.Data);
        Assert.Equal(["preprocess", "text encoder", "vae encode", "unet", "vae decode", "postprocess"], outcome.Stages.Select(s => s.Stage));
        Assert.All(outcome.Stages, s => Assert.True(s.Milliseconds >= 0));
        Assert.Equal("cpu", up.Backend);
        Assert.Equal(0, up.Pending);
    }

    [Fact]
    public async Task Concurrent_callers_each_get_their_own_correct_result()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        char[] names = ['a', 'b', 'c', 'd'];
        var inputs = names.Select(Input).ToArray();
        var want = new byte[names.Length][];
        for (int i = 0; i < names.Length; i++) want[i] = (await up.UpscaleAsync(inputs[i], Small)).Image.Data;
        // Eight calls from eight threads at once, in a shuffled order of inputs.
        var tasks = Enumerable.Range(0, 8).Select(k => Task.Run(() => up.UpscaleAsync(inputs[(k * 3) % names.Length], Small))).ToArray();
        var got = await Task.WhenAll(tasks);
        for (int k = 0; k < tasks.Length; k++) Assert.Equal(want[(k * 3) % names.Length], got[k].Image.Data);
        Assert.NotEqual(want[0], want[1]); // the inputs really differ, so a mix-up would show
    }

    [Fact]
    public async Task Progress_reports_every_stage_and_each_latent_tile()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        var seen = new List<UpscaleProgress>();
        var progress = new SyncProgress<UpscaleProgress>(p => { lock (seen) seen.Add(p); });
        // Latent tiles of 4 with overlap 1 on the tiny model's 8x8 latent: several UNet tiles.
        await up.UpscaleAsync(Input('a'), Small with { LatentTile = 4, LatentOverlap = 1 }, progress);
        Assert.Equal(["preprocess", "text encoder", "vae encode", "unet", "vae decode", "postprocess"],
            seen.Where(p => p.Tile == 0).Select(p => p.Stage));
        var tiles = seen.Where(p => p.Stage == "unet" && p.Tile > 0).ToList();
        Assert.True(tiles.Count > 1, $"expected several UNet tiles, saw {tiles.Count}");
        Assert.Equal(Enumerable.Range(1, tiles.Count), tiles.Select(t => t.Tile));
        Assert.All(tiles, t => Assert.Equal(tiles.Count, t.Tiles));
    }

    [Fact]
    public async Task Cancelled_during_the_unet_stops_there_and_the_next_call_is_unharmed()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        var o = Small with { LatentTile = 4, LatentOverlap = 1 };
        var want = (await up.UpscaleAsync(Input('a'), o)).Image.Data;

        using var cts = new CancellationTokenSource();
        var stages = new List<UpscaleProgress>();
        var progress = new SyncProgress<UpscaleProgress>(p =>
        {
            stages.Add(p);
            if (p.Stage == "unet" && p.Tile == 1) cts.Cancel();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => up.UpscaleAsync(Input('a'), o, progress, cts.Token));
        Assert.DoesNotContain(stages, p => p.Stage == "vae decode");
        Assert.DoesNotContain(stages, p => p.Stage == "unet" && p.Tile == 2);

        Assert.Equal(want, (await up.UpscaleAsync(Input('a'), o)).Image.Data);
        Assert.Equal(0, up.Pending);
    }

    [Fact]
    public async Task Cancelled_while_waiting_never_runs()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        using var gate = new ManualResetEventSlim();
        var blocker = up.RunAsync((_, _) => gate.Wait(TimeSpan.FromSeconds(30)));
        using var cts = new CancellationTokenSource();
        bool started = false;
        var waiting = up.UpscaleAsync(Input('a'), Small, new SyncProgress<UpscaleProgress>(_ => started = true), cts.Token);
        Assert.Equal(2, up.Pending);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        gate.Set();
        await blocker;
        await up.RunAsync((_, _) => 0); // the worker has passed the cancelled call
        Assert.False(started);
    }

    [Fact]
    public async Task Bad_image_and_bad_options_fail_with_a_pisa_exception()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        var e = await Assert.ThrowsAsync<PisaException>(() => up.UpscaleAsync("not an image"u8.ToArray(), Small, nameForErrors: "upload"));
        Assert.Contains("upload", e.Message);
        await Assert.ThrowsAsync<PisaException>(() => up.UpscaleAsync(Input('a'), Small with { Upscale = 0 }));
        // And the upscaler still works.
        Assert.NotNull((await up.UpscaleAsync(Input('a'), Small)).Image);
    }

    [Fact]
    public async Task File_and_stream_doors_write_the_same_image()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        using var dir = new TempDir();
        string input = Path.Combine(FixturePaths.Tiny, "inputs", "lq_b.png");
        await up.UpscaleFileAsync(input, dir.File("b.png"), Small);
        using var src = File.OpenRead(input);
        using var dst = new MemoryStream();
        await up.UpscaleAsync(src, dst, ImageFormat.Png, Small);
        Assert.Equal(File.ReadAllBytes(dir.File("b.png")), dst.ToArray());
        Assert.Equal(["b.png"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Load_failure_is_a_pisa_exception_naming_the_folder()
    {
        var e = Assert.Throws<PisaException>(() => PisaUpscaler.Load(TinyOptions with { ModelDir = "/nonexistent/sd" }));
        Assert.Contains("/nonexistent/sd", e.Message);
    }

    /// <summary>IProgress that reports on the calling (worker) thread, so a test sees events in order.</summary>
    internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
