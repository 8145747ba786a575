using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends;

/// <summary>
/// A backend that keeps its own copies of parameters (CudaOps: packed fp16 on the device) and can drop them as
/// soon as the caller knows a weight set is retired, rather than when the garbage collector finds the parameters
/// unreachable. Optional: a backend without it (CpuOps, whose packed copies are weakly keyed host arrays) needs
/// no call. Models stay backend-neutral: they ask <c>ops is IWeightRelease</c>.
/// </summary>
public interface IWeightRelease
{
    /// <summary>Frees this backend's copies of <paramref name="tensors"/> (safe with work still queued that reads
    /// them; a tensor used again later is uploaded again). Returns the bytes freed.</summary>
    long ReleaseWeights(IEnumerable<HostTensor> tensors);

    /// <summary>Until the returned scope is disposed, every parameter this backend copies for the first time is added
    /// to <paramref name="into"/>: what a model used, to release once it is done with (PisaModel's text encoder after
    /// the prompt is cached), including copies the model made itself (fused projections) that no source names.</summary>
    IDisposable TrackWeights(ICollection<HostTensor> into);
}
