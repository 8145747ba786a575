namespace PiSa.Engine.Bench;

/// <summary>
/// Hook for `pisa bench`: a backend that can report its peak device memory implements this next to
/// <see cref="Backends.IOps"/> (the CUDA backend should, from its allocator's high-water mark). IOps itself has
/// no such member yet; the benchmark prints "not reported" for backends without it.
/// </summary>
public interface IDeviceMemoryStats
{
    /// <summary>Peak bytes allocated on the device since the backend was created.</summary>
    long PeakDeviceBytes { get; }
}
