namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// Attention dispatch. Head dims up to 64 run fused on one kernel (CudaKernels.Attention: flash, its unaligned
/// fallback, or SIMT). One head of a large dim (the VAE mid block's 512) runs as GEMM - row softmax - GEMM on the
/// runtime's linear (cuBLASLt): per batch item Q (pre-scaled by 1/sqrt(D)), K and V^T are packed once into contiguous
/// operands with the key count padded to a multiple of 8 (zeros), then per chunk of query rows S = Q K^T, P =
/// softmax(S) in place (kernels/attention_gemm.cu), O = P V straight into the output rows.
/// Why not a flash kernel there: at D = 512 a warp's 16 query rows already hold 128 fp32 accumulators per lane for
/// a quarter of D, so a fused kernel must split D across warps and reduce S through shared memory on every key
/// tile, with at most 16-32 keys per tile in 48 KB; cuBLASLt's GEMMs run at full tensor-core rate (wgmma on
/// Hopper) and the score chunk's extra traffic (write S, read and write P, read P: 8 bytes per score against 2 x 512
/// multiply-adds) keeps the GEMMs compute-bound. The chunk keeps the score matrix under
/// <see cref="AttentionScoreBudgetBytes"/> (16,384 tokens: 2,048 query rows of 32 KB).
/// </summary>
public sealed partial class CudaOps
{
    /// <summary>The most bytes of one chunk's fp16 score matrix in the GEMM path (query rows x padded keys x 2).</summary>
    public long AttentionScoreBudgetBytes { get; set; } = 64L << 20;

    private void RunAttention(IntPtr q, IntPtr k, IntPtr v, IntPtr y, int b, int lq, int lk, int heads, int d, int ldq, int ldk, int ldv, bool causal)
    {
        if (LaunchMath.AttentionByGemm(d, heads, _rt.HasLinear)) AttentionByGemm(q, k, v, y, b, lq, lk, d, ldq, ldk, ldv, causal);
        else _k.Attention(q, k, v, y, b, lq, lk, heads, d, ldq, ldk, ldv, causal);
    }

    private void AttentionByGemm(IntPtr q, IntPtr k, IntPtr v, IntPtr y, int b, int lq, int lk, int d, int ldq, int ldk, int ldv, bool causal)
    {
        int lkp = LaunchMath.AttentionGemmKeys(lk);
        int chunk = LaunchMath.AttentionGemmChunk(lq, lkp, AttentionScoreBudgetBytes);
        DeviceMemory? qs = null, ks = null, vt = null, s = null;
        try
        {
            qs = new DeviceMemory(_rt, (long)lq * d * 2);
            ks = new DeviceMemory(_rt, (long)lkp * d * 2);
            vt = new DeviceMemory(_rt, (long)lkp * d * 2);
            s = new DeviceMemory(_rt, (long)chunk * lkp * 2);
            for (int bi = 0; bi < b; bi++)
            {
                _k.AttnPackRows(q + checked((nint)((long)bi * lq * ldq * 2)), qs.Ptr, lq, lq, d, ldq, 1.0f / MathF.Sqrt(d));
                _k.AttnPackRows(k + checked((nint)((long)bi * lk * ldk * 2)), ks.Ptr, lk, lkp, d, ldk, 1.0f);
                _k.AttnPackTranspose(v + checked((nint)((long)bi * lk * ldv * 2)), vt.Ptr, lk, lkp, d, ldv);
                for (int i0 = 0; i0 < lq; i0 += chunk)
                {
                    int rows = Math.Min(chunk, lq - i0);
                    Gemm(qs.Ptr + (nint)((long)i0 * d * 2), ks.Ptr, s.Ptr, rows, d, lkp);                   // S = (Q / sqrt(D)) K^T
                    _k.AttnSoftmaxRows(s.Ptr, rows, lk, lkp, i0, causal);                                   // P, zeros past Lk
                    Gemm(s.Ptr, vt.Ptr, y + checked((nint)(((long)bi * lq + i0) * d * 2)), rows, lkp, d);    // O = P V (one head: rows of D)
                }
            }
        }
        finally { qs?.Release(); ks?.Release(); vt?.Release(); s?.Release(); }
    }

    /// <summary>y[rows, outF] = x[rows, inF] w[outF, inF]^T on the runtime's linear (inF % 8 == 0).</summary>
    private void Gemm(IntPtr x, IntPtr w, IntPtr y, int rows, int inF, int outF)
    {
        try
        {
            LaunchObserver?.BeforeLinear(rows, inF, outF);
            _rt.LinearF16(x, w, IntPtr.Zero, IntPtr.Zero, y, rows, inF, outF);
            LaunchObserver?.AfterLinear(rows, inF, outF);
        }
        catch (Exception e) when (e is not PisaException)
        { throw new PisaException($"cuBLASLt attention GEMM [{rows}, {inF}] x [{outF}, {inF}]^T: {e.Message}", e); }
    }
}
