using System.Runtime.InteropServices;

namespace PiSa.Cuda.Native;

/// <summary>
/// cuBLAS (libcublas.so.13/12/11), the fallback GEMM path when cuBLASLt finds no algorithm.
/// Column-major, as always with cuBLAS. <c>cublasHandle_t</c> is an <c>nint</c>.
/// </summary>
public static unsafe partial class Cublas
{
    private const string Lib = NativeLibs.Cublas;

    [LibraryImport(Lib)] public static partial cublasStatus_t cublasCreate_v2(out nint handle);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasDestroy_v2(nint handle);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasGetVersion_v2(nint handle, out int version);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasGetProperty(libraryPropertyType type, out int value);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasSetStream_v2(nint handle, nint streamId);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasSetMathMode(nint handle, cublasMath_t mode);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasSetWorkspace_v2(nint handle, ulong workspace, nuint workspaceSizeInBytes);

    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasGemmEx(nint handle, cublasOperation_t transa, cublasOperation_t transb,
        int m, int n, int k,
        void* alpha, ulong a, cudaDataType aType, int lda,
        ulong b, cudaDataType bType, int ldb,
        void* beta, ulong c, cudaDataType cType, int ldc,
        cublasComputeType_t computeType, cublasGemmAlgo_t algo);

    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasGemmStridedBatchedEx(nint handle, cublasOperation_t transa, cublasOperation_t transb,
        int m, int n, int k,
        void* alpha, ulong a, cudaDataType aType, int lda, long strideA,
        ulong b, cudaDataType bType, int ldb, long strideB,
        void* beta, ulong c, cudaDataType cType, int ldc, long strideC,
        int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
}
