using PiSa.Engine.Imaging;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Api;

/// <summary>Milliseconds one call spent in one pipeline stage.</summary>
public readonly record struct StageTime(string Stage, double Milliseconds);

/// <summary>What one <see cref="PisaUpscaler"/> call produced.</summary>
public sealed class UpscaleOutcome
{
    public required RgbImage Image { get; init; }
    /// <summary>Per-stage time of this call, in pipeline order (the backend is synchronised at each stage end).</summary>
    public required IReadOnlyList<StageTime> Stages { get; init; }
    /// <summary>Time spent waiting for the backend worker before the run started.</summary>
    public required double QueueMilliseconds { get; init; }
    /// <summary>Time on the worker (all stages and the small steps between them).</summary>
    public required double RunMilliseconds { get; init; }
    /// <summary>Lines for the user that this call raised (e.g. the fused mode's distance to the exact mode).</summary>
    public required IReadOnlyList<string> Notices { get; init; }
    /// <summary>The intermediates named as in the golden fixtures, when the call asked for them.</summary>
    public IReadOnlyDictionary<string, HostTensor>? Tensors { get; init; }
}
