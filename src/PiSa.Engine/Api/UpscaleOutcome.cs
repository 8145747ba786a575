using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Api;

/// <summary>Milliseconds one call spent in one pipeline stage.</summary>
public readonly record struct StageTime(string Stage, double Milliseconds);

/// <summary>What one <see cref="PisaUpscaler"/> call produced.</summary>
public sealed record UpscaleOutcome
{
    /// <summary>The (first) result's 8-bit RGB colour.</summary>
    public RgbImage Image => Results[0].Output.Rgb;
    /// <summary>One result per lambda pair (one for a plain call): the image as files hold it (alpha, grey,
    /// 16-bit, metadata) and its lambdas.</summary>
    public required IReadOnlyList<ImageResult> Results { get; init; }
    /// <summary>Per-stage time of this call, in pipeline order (the backend is synchronised at each stage end);
    /// the file door adds "decode" first and "save" last.</summary>
    public required IReadOnlyList<StageTime> Stages { get; init; }
    /// <summary>Time spent waiting for the backend worker before the run started.</summary>
    public required double QueueMilliseconds { get; init; }
    /// <summary>Time on the worker (all stages and the small steps between them).</summary>
    public required double RunMilliseconds { get; init; }
    /// <summary>Wall time of SPEC steps 6-10 alone (text encoder to VAE decode, every grid pair): `pisa bench`'s end to end.</summary>
    public required double ModelMilliseconds { get; init; }
    /// <summary>Why this call was slower than a repeat would be, empty for a warm call: "prompt encoded" (not yet
    /// cached), "weight set built" (a LoRA merge; the backend packs it on its first pass), "new input size" (size or
    /// tiling differs from the previous call's: the backend's per-shape caches, kernels and graphs start afresh).</summary>
    public required IReadOnlyList<string> Cold { get; init; }
    /// <summary>Lines for the user that this call raised (e.g. the fused mode's distance to the exact mode).</summary>
    public required IReadOnlyList<string> Notices { get; init; }
    /// <summary>The intermediates named as in the golden fixtures, when the call asked for them.</summary>
    public IReadOnlyDictionary<string, HostTensor>? Tensors { get; init; }
    /// <summary>The file door: what writing each output did (alpha composited, depth reduced), in output order.</summary>
    public IReadOnlyList<ImageEncoder.Outcome> Saved { get; init; } = [];
}
