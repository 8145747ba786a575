using System.Runtime.InteropServices;
using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// Names and descriptions of error codes. The driver's own cuGetErrorName/String are preferred (they know
/// codes newer than this file); the enum names are the fallback when the driver is absent or silent.
/// </summary>
public static unsafe class CudaErrors
{
    public static string Name(CUresult r)
    {
        if (NativeLibs.TryLoad(NativeLibs.Cuda))
        {
            try
            {
                if (CuDriver.cuGetErrorName(r, out var p) == CUresult.CUDA_SUCCESS && p != null)
                    return Marshal.PtrToStringUTF8((nint)p) ?? Fallback(r);
            }
            catch (EntryPointNotFoundException) { }
        }
        return Fallback(r);
    }

    public static string Describe(CUresult r)
    {
        if (NativeLibs.TryLoad(NativeLibs.Cuda))
        {
            try
            {
                if (CuDriver.cuGetErrorString(r, out var p) == CUresult.CUDA_SUCCESS && p != null)
                    return Marshal.PtrToStringUTF8((nint)p) ?? "unknown error";
            }
            catch (EntryPointNotFoundException) { }
        }
        return Enum.IsDefined(r) ? "see the CUDA driver API documentation" : "unrecognized error code";
    }

    public static string Name(cublasStatus_t s) =>
        Enum.IsDefined(s) ? s.ToString() : $"CUBLAS_STATUS_{(int)s}";

    public static string Describe(nvrtcResult r)
    {
        if (NativeLibs.TryLoad(NativeLibs.Nvrtc))
        {
            try
            {
                var p = Nvrtc.nvrtcGetErrorString(r);
                if (p != null)
                    return Marshal.PtrToStringUTF8((nint)p) ?? r.ToString();
            }
            catch (EntryPointNotFoundException) { }
        }
        return r.ToString();
    }

    private static string Fallback(CUresult r) => Enum.IsDefined(r) ? r.ToString() : $"CUresult {(int)r}";
}
