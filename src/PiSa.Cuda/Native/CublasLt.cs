using System.Runtime.InteropServices;

namespace PiSa.Cuda.Native;

/// <summary>
/// cuBLASLt (libcublasLt.so.13/12/11). Handles and descriptors (cublasLtHandle_t, cublasLtMatmulDesc_t,
/// cublasLtMatrixLayout_t, cublasLtMatmulPreference_t) are <c>nint</c>; device pointers are <c>ulong</c>;
/// streams are <c>nint</c>. Attribute setters take a pointer to the value and its size in bytes.
/// </summary>
public static unsafe partial class CublasLt
{
    private const string Lib = NativeLibs.CublasLt;

    [LibraryImport(Lib)] public static partial cublasStatus_t cublasLtCreate(out nint lightHandle);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasLtDestroy(nint lightHandle);
    [LibraryImport(Lib)] public static partial nuint cublasLtGetVersion();
    [LibraryImport(Lib)] public static partial byte* cublasLtGetStatusName(cublasStatus_t status);
    [LibraryImport(Lib)] public static partial byte* cublasLtGetStatusString(cublasStatus_t status);

    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasLtMatmulDescCreate(out nint matmulDesc, cublasComputeType_t computeType, cudaDataType scaleType);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasLtMatmulDescDestroy(nint matmulDesc);
    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasLtMatmulDescSetAttribute(nint matmulDesc, cublasLtMatmulDescAttributes_t attr, void* buf, nuint sizeInBytes);

    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasLtMatrixLayoutCreate(out nint matLayout, cudaDataType type, ulong rows, ulong cols, long ld);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasLtMatrixLayoutDestroy(nint matLayout);
    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasLtMatrixLayoutSetAttribute(nint matLayout, cublasLtMatrixLayoutAttribute_t attr, void* buf, nuint sizeInBytes);

    [LibraryImport(Lib)] public static partial cublasStatus_t cublasLtMatmulPreferenceCreate(out nint pref);
    [LibraryImport(Lib)] public static partial cublasStatus_t cublasLtMatmulPreferenceDestroy(nint pref);
    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasLtMatmulPreferenceSetAttribute(nint pref, cublasLtMatmulPreferenceAttributes_t attr, void* buf, nuint sizeInBytes);

    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasLtMatmulAlgoGetHeuristic(nint lightHandle, nint operationDesc,
        nint aDesc, nint bDesc, nint cDesc, nint dDesc, nint preference,
        int requestedAlgoCount, cublasLtMatmulHeuristicResult_t* heuristicResultsArray, out int returnAlgoCount);

    /// <summary>D = alpha * op(A) op(B) + beta * C, with the epilogue of <paramref name="computeDesc"/>.</summary>
    [LibraryImport(Lib)]
    public static partial cublasStatus_t cublasLtMatmul(nint lightHandle, nint computeDesc,
        void* alpha, ulong a, nint aDesc, ulong b, nint bDesc,
        void* beta, ulong c, nint cDesc, ulong d, nint dDesc,
        cublasLtMatmulAlgo_t* algo, ulong workspace, nuint workspaceSizeInBytes, nint stream);
}
