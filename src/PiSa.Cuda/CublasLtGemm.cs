using System.Numerics;
using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>What cuBLASLt applies after the product, per output element (bias is per output column).</summary>
public enum GemmEpilogue
{
    None,
    Bias,
    BiasRelu,
    BiasGelu,
}

/// <summary>
/// Row-major GEMMs on cuBLASLt with fused bias/activation epilogues, fp16 (or bf16/fp32) data and fp32
/// accumulation: C[M,N] = alpha * op(A) · op(B) (+ bias[N]) (+ beta * C), optionally strided-batched.
/// A is stored [M,K] (or [K,M] with transA), B [K,N] (or [N,K] with transB): a PyTorch Linear
/// (weight [out,in]) is <see cref="Linear"/>: transB = true.
/// cuBLASLt is column-major; the row-major product is computed as Cᵀ = op(B)ᵀ · op(A)ᵀ, which needs
/// no data movement. Descriptors and the chosen algorithm are cached per shape, so after the first call
/// at a shape a GEMM is one cublasLtMatmul (and is safe inside CUDA graph capture).
/// One instance per stream/thread: the cached descriptors are not shared safely across threads.
/// </summary>
public sealed unsafe class CublasLtGemm : IDisposable
{
    private nint _handle;
    private readonly DeviceBuffer _workspace;
    private readonly Dictionary<PlanKey, Plan> _plans = new();

    /// <summary>True when libcublasLt can be loaded.</summary>
    public static bool Available => NativeLibs.TryLoad(NativeLibs.CublasLt);

    /// <param name="workspaceBytes">Scratch for split-K and friends; 32 MiB is what NVIDIA recommends for Hopper.</param>
    public CublasLtGemm(long workspaceBytes = 32L << 20)
    {
        CudaException.Check(CublasLt.cublasLtCreate(out _handle), "cublasLtCreate");
        _workspace = DeviceBuffer.Allocate(Math.Max(256, workspaceBytes));
    }

    public int CachedPlans => _plans.Count;

    /// <summary>
    /// A PyTorch Linear on row-major fp16 tensors: Y[M,N] = X[M,K] · W[N,K]ᵀ + bias[N], then the epilogue's
    /// activation. <paramref name="bias"/> is ignored (may be 0) for <see cref="GemmEpilogue.None"/>.
    /// </summary>
    public void Linear(ulong x, ulong w, ulong bias, ulong y, int m, int n, int k, GemmEpilogue epilogue, CudaStream stream,
        float beta = 0f) =>
        Matmul(x, false, w, true, y, m, n, k, stream, epilogue, bias, alpha: 1f, beta: beta);

    /// <summary>
    /// C[b] = alpha * op(A[b]) · op(B[b]) (+ bias) (+ beta * C[b]) for b in [0, batch), row-major.
    /// Strides are in elements between consecutive batch items (0 broadcasts one matrix to all).
    /// </summary>
    public void Matmul(ulong a, bool transA, ulong b, bool transB, ulong c, int m, int n, int k, CudaStream stream,
        GemmEpilogue epilogue = GemmEpilogue.None, ulong bias = 0, float alpha = 1f, float beta = 0f,
        int batch = 1, long strideA = 0, long strideB = 0, long strideC = 0,
        cudaDataType inType = cudaDataType.CUDA_R_16F, cudaDataType outType = cudaDataType.CUDA_R_16F)
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        if (m <= 0 || n <= 0 || k <= 0 || batch <= 0)
            throw new ArgumentException($"GEMM shape M={m} N={n} K={k} batch={batch} must be positive");
        if (epilogue != GemmEpilogue.None && bias == 0)
            throw new ArgumentException($"GEMM epilogue {epilogue} needs a bias pointer");

        var key = new PlanKey(m, n, k, transA, transB, batch, strideA, strideB, strideC, epilogue, inType, outType, beta != 0f,
            Alignment(a), Alignment(b), Alignment(c), epilogue == GemmEpilogue.None ? 0 : Alignment(bias));
        if (!_plans.TryGetValue(key, out var plan))
        {
            plan = CreatePlan(key);
            _plans[key] = plan;
        }
        if (epilogue != GemmEpilogue.None)
            SetDesc(plan.Desc, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, "bias pointer");

        var algo = plan.Algo;
        // Column-major view: D(N×M) = op(B') · op(A') with B's storage as the first operand.
        CudaException.Check(CublasLt.cublasLtMatmul(_handle, plan.Desc, &alpha, b, plan.LayoutFirst, a, plan.LayoutSecond,
            &beta, c, plan.LayoutOut, c, plan.LayoutOut, &algo, _workspace.Ptr, (nuint)_workspace.Bytes, stream.Handle),
            "cublasLtMatmul", key.ToString());
    }

    private Plan CreatePlan(PlanKey key)
    {
        var plan = new Plan();
        try
        {
            CudaException.Check(CublasLt.cublasLtMatmulDescCreate(out plan.Desc, cublasComputeType_t.CUBLAS_COMPUTE_32F, cudaDataType.CUDA_R_32F),
                "cublasLtMatmulDescCreate", key.ToString());
            // First operand (B's storage): row-major [K,N] is col-major N×K (op N); [N,K] is col-major K×N (op T).
            SetDesc(plan.Desc, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_TRANSA,
                (int)(key.TransB ? cublasOperation_t.CUBLAS_OP_T : cublasOperation_t.CUBLAS_OP_N), "transa");
            // Second operand (A's storage): row-major [M,K] is col-major K×M (op N); [K,M] is col-major M×K (op T).
            SetDesc(plan.Desc, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_TRANSB,
                (int)(key.TransA ? cublasOperation_t.CUBLAS_OP_T : cublasOperation_t.CUBLAS_OP_N), "transb");
            if (key.Epilogue != GemmEpilogue.None)
            {
                var epi = key.Epilogue switch
                {
                    GemmEpilogue.Bias => cublasLtEpilogue_t.CUBLASLT_EPILOGUE_BIAS,
                    GemmEpilogue.BiasRelu => cublasLtEpilogue_t.CUBLASLT_EPILOGUE_RELU_BIAS,
                    GemmEpilogue.BiasGelu => cublasLtEpilogue_t.CUBLASLT_EPILOGUE_GELU_BIAS,
                    _ => cublasLtEpilogue_t.CUBLASLT_EPILOGUE_DEFAULT,
                };
                SetDesc(plan.Desc, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_EPILOGUE, (uint)epi, "epilogue");
                // The bias has the output's type; a placeholder aligned like the real one lets the heuristic run.
                SetDesc(plan.Desc, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_BIAS_POINTER, (ulong)key.AlignBias, "bias pointer");
            }

            plan.LayoutFirst = Layout(key.InType, key.TransB ? key.K : key.N, key.TransB ? key.N : key.K, key.Batch, key.StrideB, key);
            plan.LayoutSecond = Layout(key.InType, key.TransA ? key.M : key.K, key.TransA ? key.K : key.M, key.Batch, key.StrideA, key);
            plan.LayoutOut = Layout(key.OutType, key.N, key.M, key.Batch, key.StrideC, key);

            CudaException.Check(CublasLt.cublasLtMatmulPreferenceCreate(out nint pref), "cublasLtMatmulPreferenceCreate");
            try
            {
                ulong ws = (ulong)_workspace.Bytes;
                CudaException.Check(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref,
                    cublasLtMatmulPreferenceAttributes_t.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ulong)), "cublasLtMatmulPreferenceSetAttribute");
                SetAlignment(pref, cublasLtMatmulPreferenceAttributes_t.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.AlignB);
                SetAlignment(pref, cublasLtMatmulPreferenceAttributes_t.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.AlignA);
                SetAlignment(pref, cublasLtMatmulPreferenceAttributes_t.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.AlignC);
                SetAlignment(pref, cublasLtMatmulPreferenceAttributes_t.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.AlignC);

                cublasLtMatmulHeuristicResult_t result;
                CudaException.Check(CublasLt.cublasLtMatmulAlgoGetHeuristic(_handle, plan.Desc, plan.LayoutFirst, plan.LayoutSecond,
                    plan.LayoutOut, plan.LayoutOut, pref, 1, &result, out int found), "cublasLtMatmulAlgoGetHeuristic", key.ToString());
                if (found < 1 || result.state != cublasStatus_t.CUBLAS_STATUS_SUCCESS)
                    throw new CudaException("cublasLtMatmulAlgoGetHeuristic", "CUBLAS_STATUS_NOT_SUPPORTED", (int)cublasStatus_t.CUBLAS_STATUS_NOT_SUPPORTED,
                        "no algorithm for this GEMM", key.ToString());
                plan.Algo = result.algo;
            }
            finally
            {
                CublasLt.cublasLtMatmulPreferenceDestroy(pref);
            }
            return plan;
        }
        catch
        {
            plan.Destroy();
            throw;
        }
    }

    private static nint Layout(cudaDataType type, int rows, int cols, int batch, long stride, PlanKey key)
    {
        CudaException.Check(CublasLt.cublasLtMatrixLayoutCreate(out nint l, type, (ulong)rows, (ulong)cols, rows), "cublasLtMatrixLayoutCreate", key.ToString());
        if (batch > 1)
        {
            CudaException.Check(CublasLt.cublasLtMatrixLayoutSetAttribute(l, cublasLtMatrixLayoutAttribute_t.CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                &batch, sizeof(int)), "cublasLtMatrixLayoutSetAttribute", "batch count");
            CudaException.Check(CublasLt.cublasLtMatrixLayoutSetAttribute(l, cublasLtMatrixLayoutAttribute_t.CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                &stride, sizeof(long)), "cublasLtMatrixLayoutSetAttribute", "batch stride");
        }
        return l;
    }

    private static void SetDesc<T>(nint desc, cublasLtMatmulDescAttributes_t attr, T value, string what) where T : unmanaged =>
        CudaException.Check(CublasLt.cublasLtMatmulDescSetAttribute(desc, attr, &value, (nuint)sizeof(T)), "cublasLtMatmulDescSetAttribute", what);

    private static void SetAlignment(nint pref, cublasLtMatmulPreferenceAttributes_t attr, int bytes)
    {
        uint v = (uint)bytes;
        CudaException.Check(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref, attr, &v, sizeof(uint)), "cublasLtMatmulPreferenceSetAttribute", attr.ToString());
    }

    /// <summary>The largest power of two (at most 256) dividing the address: what the heuristic may assume.</summary>
    public static int Alignment(ulong ptr) => ptr == 0 ? 256 : (int)Math.Min(256UL, 1UL << BitOperations.TrailingZeroCount(ptr));

    public void Dispose()
    {
        foreach (var p in _plans.Values)
            p.Destroy();
        _plans.Clear();
        if (_handle != 0)
        {
            CublasLt.cublasLtDestroy(_handle);
            _handle = 0;
        }
        _workspace.Dispose();
    }

    private sealed class Plan
    {
        public nint Desc, LayoutFirst, LayoutSecond, LayoutOut;
        public cublasLtMatmulAlgo_t Algo;

        public void Destroy()
        {
            if (Desc != 0) CublasLt.cublasLtMatmulDescDestroy(Desc);
            if (LayoutFirst != 0) CublasLt.cublasLtMatrixLayoutDestroy(LayoutFirst);
            if (LayoutSecond != 0) CublasLt.cublasLtMatrixLayoutDestroy(LayoutSecond);
            if (LayoutOut != 0) CublasLt.cublasLtMatrixLayoutDestroy(LayoutOut);
            Desc = LayoutFirst = LayoutSecond = LayoutOut = 0;
        }
    }

    private readonly record struct PlanKey(int M, int N, int K, bool TransA, bool TransB, int Batch, long StrideA, long StrideB, long StrideC,
        GemmEpilogue Epilogue, cudaDataType InType, cudaDataType OutType, bool HasBeta, int AlignA, int AlignB, int AlignC, int AlignBias)
    {
        public override string ToString() =>
            $"GEMM M={M} N={N} K={K}{(TransA ? " A^T" : "")}{(TransB ? " B^T" : "")} batch={Batch} {Epilogue} {InType}->{OutType}";
    }
}
