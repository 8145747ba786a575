using System.Diagnostics;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Bench;

/// <summary>One output size measured: per-stage and end-to-end times and the arithmetic of each stage.</summary>
public sealed class BenchSizeResult
{
    public required int OutputSize { get; init; }
    public required int InputSize { get; init; }
    /// <summary>"text encoder", "vae encode", "unet", "vae decode", in pipeline order.</summary>
    public required IReadOnlyList<BenchStats> Stages { get; init; }
    /// <summary>Steps 6-10 as one Stopwatch interval per run (includes the small ops between stages).</summary>
    public required BenchStats EndToEnd { get; init; }
    /// <summary>FLOPs per stage name (the text encoder's only on a run that computes it: it is cached after the first).</summary>
    public required IReadOnlyDictionary<string, StageFlops> Flops { get; init; }
    /// <summary>FLOPs of one run with the prompt cached: VAE encode + UNet + VAE decode.</summary>
    public double EndToEndFlops => Flops.Where(f => f.Key != TextStage).Sum(f => f.Value.Total);

    public const string TextStage = "text encoder";
}

/// <summary>
/// The paper's protocol on the engine's own pipeline: a random 128x128 RGB input (seeded) upscaled x4 to 512x512,
/// or the input of size S/4 for an output size S. Preprocessing happens once, outside the timing; each run is
/// <see cref="UpscalePipeline.RunLatentPath"/> (SPEC section 3 steps 6-10: prompt embedding cached after the first
/// run, VAE encode, UNet, VAE decode), timed per stage by the pipeline's <see cref="StageTimer"/> (the pipeline
/// synchronises the backend at each stage end) and end to end by a Stopwatch. Nothing is allocated per run beyond
/// what the pipeline allocates itself.
/// </summary>
public static class BenchRunner
{
    public static readonly string[] StageNames = [BenchSizeResult.TextStage, "vae encode", "unet", "vae decode"];

    public static BenchSizeResult Run(UpscalePipeline pipeline, PisaModel model, int outputSize, UpscaleOptions options,
        int warmup, int runs, Action<string>? progress = null)
    {
        if (outputSize < 64 || outputSize % 64 != 0)
            throw new PisaException($"bench output size {outputSize} must be a positive multiple of 64 (the UNet halves the latent three times)");
        if (runs < 1) throw new PisaException($"--runs must be at least 1, got {runs}");
        if (warmup < 0) throw new PisaException($"--warmup must not be negative, got {warmup}");
        int inputSize = outputSize / 4;
        var o = OptionsFor(outputSize, options);
        HostTensor x = Preprocess.Run(RandomImage(inputSize, inputSize, 1234), o.Upscale, o.ProcessSize).ModelInput;

        var stageMs = StageNames.Select(_ => new double[runs]).ToArray();
        var totalMs = new double[runs];
        var before = new double[StageNames.Length];
        for (int r = -warmup; r < runs; r++)
        {
            progress?.Invoke(r < 0 ? $"{outputSize}x{outputSize}: warm-up {r + warmup + 1}/{warmup}" : $"{outputSize}x{outputSize}: run {r + 1}/{runs}");
            Snapshot(pipeline.Timer, before);
            long t0 = Stopwatch.GetTimestamp();
            pipeline.RunLatentPath(x, o);
            double total = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (r < 0) continue;
            totalMs[r] = total;
            for (int s = 0; s < StageNames.Length; s++) stageMs[s][r] = StageTotal(pipeline.Timer, StageNames[s]) - before[s];
        }

        int latent = outputSize / 8, tokens = model.TextConfig.MaxPositionEmbeddings;
        var flops = new Dictionary<string, StageFlops>
        {
            [BenchSizeResult.TextStage] = FlopCounter.TextEncoder(model.TextConfig, tokens),
            ["vae encode"] = FlopCounter.VaeEncoder(model.VaeConfig, outputSize, outputSize),
            ["unet"] = FlopCounter.UNetStage(model.UNetConfig, latent, latent, tokens, o),
            ["vae decode"] = FlopCounter.VaeDecoder(model.VaeConfig, latent, latent),
        };
        return new BenchSizeResult
        {
            OutputSize = outputSize,
            InputSize = inputSize,
            Stages = StageNames.Select((n, s) => new BenchStats(n, stageMs[s])).ToList(),
            EndToEnd = new BenchStats("end to end", totalMs),
            Flops = flops,
        };
    }

    /// <summary>The options a bench size runs with: x4 from size/4, process size = the output size.</summary>
    public static UpscaleOptions OptionsFor(int outputSize, UpscaleOptions options)
    {
        var o = options with { Upscale = 4, ProcessSize = outputSize };
        o.Validate();
        return o;
    }

    /// <summary>The memory estimate of one bench size (see <see cref="MemoryEstimator"/>), before it runs.</summary>
    public static MemoryEstimate Estimate(PisaModel model, string backend, int outputSize, UpscaleOptions options) =>
        MemoryEstimator.ForImage(ModelFootprint.Of(model), backend, outputSize / 4, outputSize / 4, OptionsFor(outputSize, options));

    /// <summary>The backend's peak device memory when it reports one (see <see cref="IDeviceMemoryStats"/>).</summary>
    /// <summary>
    /// The lambda grid's cost against separate runs, at one output size: each timed run is the whole grid (VAE
    /// encode and the two UNet passes once, then per pair the combination and the VAE decode), and each separate
    /// run one adjustable-mode latent path at the first pair; both after the same warm-up.
    /// </summary>
    public static (BenchStats Grid, BenchStats Single) RunGrid(UpscalePipeline pipeline, int outputSize, UpscaleOptions options,
        IReadOnlyList<(float Pix, float Sem)> pairs, int warmup, int runs, Action<string>? progress = null)
    {
        if (runs < 1) throw new PisaException($"--runs must be at least 1, got {runs}");
        int inputSize = outputSize / 4;
        var o = options with { Mode = LoraMode.Adjustable, Upscale = 4, ProcessSize = outputSize, LambdaPix = pairs[0].Pix, LambdaSem = pairs[0].Sem };
        o.Validate();
        HostTensor x = Preprocess.Run(RandomImage(inputSize, inputSize, 1234), o.Upscale, o.ProcessSize).ModelInput;
        var single = new double[runs];
        var grid = new double[runs];
        for (int r = -warmup; r < runs; r++)
        {
            progress?.Invoke(r < 0 ? $"{outputSize}x{outputSize} grid: warm-up {r + warmup + 1}/{warmup}" : $"{outputSize}x{outputSize} grid: run {r + 1}/{runs}");
            long t0 = Stopwatch.GetTimestamp();
            pipeline.RunLatentPath(x, o);
            double s = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            pipeline.LatentGrid(x, o, pairs);
            double g = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (r < 0) continue;
            single[r] = s;
            grid[r] = g;
        }
        return (new BenchStats($"grid of {pairs.Count}", grid), new BenchStats("one adjustable run", single));
    }

    public static long? PeakDeviceBytes(Backends.IOps ops) => ops is IDeviceMemoryStats { PeakDeviceBytes: >= 0 } s ? s.PeakDeviceBytes : null;

    /// <summary>The process's peak resident set (VmHWM on Linux).</summary>
    public static long PeakWorkingSetBytes()
    {
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64;
    }

    /// <summary>/proc/loadavg's three averages, or null where there is none.</summary>
    public static string? LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return parts.Length >= 3 ? $"{parts[0]} {parts[1]} {parts[2]}" : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    public static RgbImage RandomImage(int width, int height, int seed)
    {
        var img = new RgbImage(width, height);
        new Random(seed).NextBytes(img.Data);
        return img;
    }

    private static void Snapshot(StageTimer timer, double[] into)
    {
        for (int s = 0; s < StageNames.Length; s++) into[s] = StageTotal(timer, StageNames[s]);
    }

    private static double StageTotal(StageTimer timer, string stage) => timer.TotalMsOf(stage);
}
