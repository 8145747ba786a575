namespace PiSa.Cuda.Native;

#pragma warning disable CA1707 // C names kept on purpose

/// <summary>cudaDataType (library_types.h).</summary>
public enum cudaDataType
{
    CUDA_R_32F = 0,
    CUDA_R_64F = 1,
    CUDA_R_16F = 2,
    CUDA_R_8I = 3,
    CUDA_R_32I = 10,
    CUDA_R_16BF = 14,
    CUDA_R_8F_E4M3 = 28,
    CUDA_R_8F_E5M2 = 29,
}

/// <summary>libraryPropertyType (library_types.h).</summary>
public enum libraryPropertyType
{
    MAJOR_VERSION = 0,
    MINOR_VERSION = 1,
    PATCH_LEVEL = 2,
}

/// <summary>cublasStatus_t (cublas_api.h).</summary>
public enum cublasStatus_t
{
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16,
}

/// <summary>cublasOperation_t.</summary>
public enum cublasOperation_t
{
    CUBLAS_OP_N = 0,
    CUBLAS_OP_T = 1,
    CUBLAS_OP_C = 2,
}

/// <summary>cublasComputeType_t.</summary>
public enum cublasComputeType_t
{
    CUBLAS_COMPUTE_16F = 64,
    CUBLAS_COMPUTE_16F_PEDANTIC = 65,
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_PEDANTIC = 69,
    CUBLAS_COMPUTE_64F = 70,
    CUBLAS_COMPUTE_32I = 72,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
}

/// <summary>cublasGemmAlgo_t (the two values that matter since tensor cores are always used when allowed).</summary>
public enum cublasGemmAlgo_t
{
    CUBLAS_GEMM_DEFAULT = -1,
    CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99,
}

/// <summary>cublasMath_t.</summary>
public enum cublasMath_t
{
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
}

/// <summary>cublasLtOrder_t.</summary>
public enum cublasLtOrder_t
{
    CUBLASLT_ORDER_COL = 0,
    CUBLASLT_ORDER_ROW = 1,
}

/// <summary>cublasLtMatrixLayoutAttribute_t; value types in the comments.</summary>
public enum cublasLtMatrixLayoutAttribute_t
{
    CUBLASLT_MATRIX_LAYOUT_TYPE = 0,                 // uint32 (cudaDataType)
    CUBLASLT_MATRIX_LAYOUT_ORDER = 1,                // int32 (cublasLtOrder_t)
    CUBLASLT_MATRIX_LAYOUT_ROWS = 2,                 // uint64
    CUBLASLT_MATRIX_LAYOUT_COLS = 3,                 // uint64
    CUBLASLT_MATRIX_LAYOUT_LD = 4,                   // int64
    CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,          // int32
    CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6, // int64
}

/// <summary>cublasLtMatmulDescAttributes_t; value types in the comments.</summary>
public enum cublasLtMatmulDescAttributes_t
{
    CUBLASLT_MATMUL_DESC_COMPUTE_TYPE = 0,           // int32 (cublasComputeType_t)
    CUBLASLT_MATMUL_DESC_SCALE_TYPE = 1,             // int32 (cudaDataType)
    CUBLASLT_MATMUL_DESC_POINTER_MODE = 2,           // int32
    CUBLASLT_MATMUL_DESC_TRANSA = 3,                 // int32 (cublasOperation_t)
    CUBLASLT_MATMUL_DESC_TRANSB = 4,                 // int32 (cublasOperation_t)
    CUBLASLT_MATMUL_DESC_TRANSC = 5,                 // int32
    CUBLASLT_MATMUL_DESC_EPILOGUE = 7,               // uint32 (cublasLtEpilogue_t)
    CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,           // device pointer
    CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE = 10,     // int64
    CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER = 11,  // device pointer
    CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD = 12,       // int64
    CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET = 15,       // int32
    CUBLASLT_MATMUL_DESC_FAST_ACCUM = 25,            // int8
    CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26,        // int32 (cudaDataType)
}

/// <summary>cublasLtEpilogue_t.</summary>
public enum cublasLtEpilogue_t : uint
{
    CUBLASLT_EPILOGUE_DEFAULT = 1,
    CUBLASLT_EPILOGUE_RELU = 2,
    CUBLASLT_EPILOGUE_BIAS = 4,
    CUBLASLT_EPILOGUE_RELU_BIAS = 2 | 4,
    CUBLASLT_EPILOGUE_GELU = 32,
    CUBLASLT_EPILOGUE_GELU_BIAS = 32 | 4,
}

/// <summary>cublasLtMatmulPreferenceAttributes_t; value types in the comments.</summary>
public enum cublasLtMatmulPreferenceAttributes_t
{
    CUBLASLT_MATMUL_PREF_SEARCH_MODE = 0,            // uint32
    CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,    // uint64
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,  // uint32
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,  // uint32
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,  // uint32
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8,  // uint32
    CUBLASLT_MATMUL_PREF_MAX_WAVES_COUNT = 9,        // float
}

/// <summary>cublasLtMatmulAlgo_t: 8 opaque 64-bit words, copied as is.</summary>
[System.Runtime.CompilerServices.InlineArray(8)]
public struct cublasLtMatmulAlgo_t
{
    private ulong _data;
}

/// <summary>cublasLtMatmulHeuristicResult_t (96 bytes).</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
public struct cublasLtMatmulHeuristicResult_t
{
    public cublasLtMatmulAlgo_t algo;
    public nuint workspaceSize;
    public cublasStatus_t state;
    public float wavesCount;
    public Reserved4 reserved;

    [System.Runtime.CompilerServices.InlineArray(4)]
    public struct Reserved4
    {
        private int _e;
    }
}
