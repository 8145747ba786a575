using System.Diagnostics;
using PiSa.Engine.Api;
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
    /// <summary>Timed runs (from 1) the library labelled cold, with its reasons; empty when every timed run was warm.</summary>
    public IReadOnlyList<(int Run, IReadOnlyList<string> Why)> ColdRuns { get; init; } = [];
    public double EndToEndFlops => Flops.Where(f => f.Key != TextStage).Sum(f => f.Value.Total);

    public const string TextStage = "text encoder";
}

/// <summary>
/// The paper's protocol on the engine's own door: a random 128x128 RGB input (seeded) upscaled x4 to 512x512, or
/// the input of size S/4 for an output size S. Each run is one <see cref="PisaUpscaler"/> call, as `pisa upscale`
/// and `pisa serve` make them; its stages are timed by the pipeline (which synchronises the backend at each stage
/// end) and reported in the call's outcome, and "end to end" is the outcome's SPEC steps 6-10 (prompt embedding,
/// cached after the first run, VAE encode, UNet, VAE decode), so preprocessing and the colour fix are outside it as
/// in the paper's timing. Every run the library labels cold (prompt encoded, weight set built, new input size) is
/// recorded with the reasons: a timed cold run is never passed off as a warm one.
/// </summary>
public static class BenchRunner
{
    public static readonly string[] StageNames = [BenchSizeResult.TextStage, "vae encode", "unet", "vae decode"];

    public static BenchSizeResult Run(PisaUpscaler upscaler, int outputSize, UpscaleOptions options,
        int warmup, int runs, Action<string>? progress = null, List<string>? notices = null)
    {
        if (outputSize < 64 || outputSize % 64 != 0)
            throw new PisaException($"bench output size {outputSize} must be a positive multiple of 64 (the UNet halves the latent three times)");
        if (runs < 1) throw new PisaException($"--runs must be at least 1, got {runs}");
        if (warmup < 0) throw new PisaException($"--warmup must not be negative, got {warmup}");
        int inputSize = outputSize / 4;
        var o = OptionsFor(outputSize, options);
        var image = RandomImage(inputSize, inputSize, 1234);

        var stageMs = StageNames.Select(_ => new double[runs]).ToArray();
        var totalMs = new double[runs];
        var cold = new List<(int Run, IReadOnlyList<string> Why)>();
        for (int r = -warmup; r < runs; r++)
        {
            progress?.Invoke(r < 0 ? $"{outputSize}x{outputSize}: warm-up {r + warmup + 1}/{warmup}" : $"{outputSize}x{outputSize}: run {r + 1}/{runs}");
            var outcome = upscaler.UpscaleAsync(image, o).GetAwaiter().GetResult();
            notices?.AddRange(outcome.Notices);
            if (r < 0) continue;
            totalMs[r] = outcome.ModelMilliseconds;
            for (int s = 0; s < StageNames.Length; s++) stageMs[s][r] = StageMs(outcome, StageNames[s]);
            if (outcome.Cold.Count > 0) cold.Add((r + 1, outcome.Cold));
        }

        var model = upscaler.Model;
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
            ColdRuns = cold,
        };
    }

    private static double StageMs(UpscaleOutcome o, string stage)
    {
        foreach (var s in o.Stages)
            if (s.Stage == stage) return s.Milliseconds;
        throw new InvalidOperationException($"the pipeline ran no '{stage}' stage");
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

    /// <summary>
    /// The lambda grid's cost against separate runs, at one output size: each timed run is the whole grid in one
    /// call (VAE encode and the two UNet passes once, then per pair the combination and the VAE decode), and each
    /// separate run one adjustable-mode call at the first pair; both after the same warm-up, both as SPEC steps 6-10.
    /// </summary>
    public static (BenchStats Grid, BenchStats Single) RunGrid(PisaUpscaler upscaler, int outputSize, UpscaleOptions options,
        LambdaGrid pairs, int warmup, int runs, Action<string>? progress = null)
    {
        if (runs < 1) throw new PisaException($"--runs must be at least 1, got {runs}");
        int inputSize = outputSize / 4;
        var (pix, sem) = pairs.Pairs[0];
        var o = options with { Mode = LoraMode.Adjustable, Upscale = 4, ProcessSize = outputSize, LambdaPix = pix, LambdaSem = sem };
        o.Validate();
        var image = new SourceImage { Rgb = RandomImage(inputSize, inputSize, 1234) };
        var single = new double[runs];
        var grid = new double[runs];
        for (int r = -warmup; r < runs; r++)
        {
            progress?.Invoke(r < 0 ? $"{outputSize}x{outputSize} grid: warm-up {r + warmup + 1}/{warmup}" : $"{outputSize}x{outputSize} grid: run {r + 1}/{runs}");
            double s = upscaler.UpscaleAsync(image, o, null).GetAwaiter().GetResult().ModelMilliseconds;
            double g = upscaler.UpscaleAsync(image, o, new UpscaleCall { Grid = pairs }).GetAwaiter().GetResult().ModelMilliseconds;
            if (r < 0) continue;
            single[r] = s;
            grid[r] = g;
        }
        return (new BenchStats($"grid of {pairs.Pairs.Count}", grid), new BenchStats("one adjustable run", single));
    }

    /// <summary>The backend's peak device memory when it reports one (see <see cref="IDeviceMemoryStats"/>).</summary>
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
}
