using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// Whether a CUDA GPU can be used here, and if not, why, in words a user can act on. Never throws:
/// a GPU is usable only if libcuda.so.1 loads, cuInit(0) succeeds and there is at least one device.
/// </summary>
public static class CudaAvailability
{
    private static (bool Ok, string Reason)? _cached;

    /// <summary>(true, "") when usable; otherwise (false, reason). The result is cached.</summary>
    public static (bool Ok, string Reason) Probe() => _cached ??= ProbeUncached();

    private static (bool Ok, string Reason) ProbeUncached()
    {
        try
        {
            if (!NativeLibs.TryLoad(NativeLibs.Cuda))
                return (false, "no CUDA driver (libcuda.so.1 not found)");
            var r = CuDriver.cuInit(0);
            if (r != CUresult.CUDA_SUCCESS)
                return (false, $"cuInit failed: {CudaErrors.Name(r)} ({CudaErrors.Describe(r)})");
            r = CuDriver.cuDeviceGetCount(out int count);
            if (r != CUresult.CUDA_SUCCESS)
                return (false, $"cuDeviceGetCount failed: {CudaErrors.Name(r)}");
            if (count <= 0)
                return (false, "no CUDA device");
            return (true, "");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return (false, $"CUDA driver unusable: {e.Message}");
        }
    }

    /// <summary>Shortcut for <c>Probe().Ok</c>.</summary>
    public static bool IsAvailable => Probe().Ok;
}
