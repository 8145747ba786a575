namespace PiSa.Engine.Bench;

/// <summary>
/// Hook for `pisa bench`: a backend that can report its peak device memory implements this next to
/// <see cref="Backends.IOps"/> (CudaOps does, from its runtime: the CUDA pool or the interpreter's memory). The
/// benchmark prints "not reported" for backends without it or with a negative value.
/// </summary>
public interface IDeviceMemoryStats
{
    /// <summary>Peak bytes allocated on the device since the backend was created.</summary>
    long PeakDeviceBytes { get; }

    /// <summary>The device memory a run on this backend may plan with (`--latent-tile 0`): free device memory plus
    /// what the backend already holds and its context, which the plan counts again; null when not known.</summary>
    long? DeviceBudgetBytes => null;
}
