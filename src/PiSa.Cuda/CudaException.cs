using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// A failed CUDA driver, cuBLAS or NVRTC call: names the call, the error (e.g. CUDA_ERROR_OUT_OF_MEMORY)
/// and what was being done (sizes, shapes, kernel name), in one line.
/// </summary>
public class CudaException : Exception
{
    /// <summary>The API call that failed (e.g. "cuMemAlloc").</summary>
    public string Operation { get; }

    /// <summary>The error code's C name (e.g. "CUDA_ERROR_OUT_OF_MEMORY", "CUBLAS_STATUS_NOT_SUPPORTED").</summary>
    public string ErrorName { get; }

    /// <summary>The numeric code (CUresult, cublasStatus_t or nvrtcResult).</summary>
    public int Code { get; }

    public CudaException(string operation, string errorName, int code, string description, string? details)
        : base(Format(operation, errorName, description, details))
    {
        Operation = operation;
        ErrorName = errorName;
        Code = code;
    }

    /// <summary>The driver result as a CUresult (meaningful for driver API errors only).</summary>
    public CUresult Result => (CUresult)Code;

    private static string Format(string op, string name, string description, string? details) =>
        string.IsNullOrEmpty(details)
            ? $"{op} failed: {name} ({description})"
            : $"{op} failed: {name} ({description}) [{details}]";

    /// <summary>Throws when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public static void Check(CUresult result, string operation, string? details = null)
    {
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(operation, CudaErrors.Name(result), (int)result, CudaErrors.Describe(result), details);
    }

    /// <summary>Throws when a cuBLAS/cuBLASLt status is not CUBLAS_STATUS_SUCCESS.</summary>
    public static void Check(cublasStatus_t status, string operation, string? details = null)
    {
        if (status != cublasStatus_t.CUBLAS_STATUS_SUCCESS)
            throw new CudaException(operation, CudaErrors.Name(status), (int)status, "cuBLAS error", details);
    }

    /// <summary>Throws when an NVRTC result is not NVRTC_SUCCESS.</summary>
    public static void Check(nvrtcResult result, string operation, string? details = null)
    {
        if (result != nvrtcResult.NVRTC_SUCCESS)
            throw new CudaException(operation, result.ToString(), (int)result, CudaErrors.Describe(result), details);
    }
}
