namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// Host-side launch geometry for the kernels in kernels/*.cu. Each formula mirrors the comment at the
/// top of its kernel; kept here (pure, no GPU) so tests can check it.
/// </summary>
public static partial class LaunchMath
{
    /// <summary>Default dynamic shared memory limit without opting in per function.</summary>
    public const int MaxSharedBytes = 48 * 1024;

    public const int FlatThreads = 256;

    /// <summary>Grid for the flat grid-stride kernels over <paramref name="n"/> elements (256 threads).</summary>
    public static Dim3 FlatGrid(long n) => new((int)Math.Clamp((n + FlatThreads - 1) / FlatThreads, 1, 1 << 20));

    // ---- conv2d_igemm_f16 ----
    public const int ConvTileM = 64, ConvTileN = 64, ConvThreads = 128;

    /// <summary>Reduction length padded to a multiple of 8 (row stride of packed weights).</summary>
    public static int PaddedK(int k) => (k + 7) / 8 * 8;

    public static (int OH, int OW) ConvOutput(int h, int w, int kh, int kw, int stride, Pad2d pad)
    {
        int oh = (h + pad.Top + pad.Bottom - kh) / stride + 1;
        int ow = (w + pad.Left + pad.Right - kw) / stride + 1;
        return (oh, ow);
    }

    public static Dim3 ConvGrid(long m, int o)
    {
        long gx = (m + ConvTileM - 1) / ConvTileM;
        if (gx > int.MaxValue) throw new PisaException($"conv2d: {m} output pixels is too many for one launch");
        return new Dim3((int)gx, (o + ConvTileN - 1) / ConvTileN);
    }

    // ---- attention_f16 ----
    public const int MaxHeadDim = 512;

    /// <summary>Row stride (halfs) of the K/V smem tile: D rounded up to even, plus 2 when half of it is even,
    /// so that 32 lanes reading 32 different key rows hit 32 different banks.</summary>
    public static int AttentionRowStride(int d)
    {
        int dp = (d + 1) & ~1;
        if (((dp >> 1) & 1) == 0) dp += 2;
        return dp;
    }

    public static int AttentionShared(int warps, int d) => warps * d * 4 + 32 * AttentionRowStride(d) * 2;

    /// <summary>Query rows per block of attention_mma_f16 (4 warps of 16).</summary>
    public const int AttentionMmaRows = 64;

    /// <summary>Head dims attention_mma_f16 takes (multiples of 8 up to 64: the UNet's 40 and 64, CLIP's 64); the SIMT
    /// attention_f16 keeps the rest (the VAE's 512, odd sizes) and is the reference version.</summary>
    public static bool AttentionOnTensorCores(int d) => d % 8 == 0 && d <= 64 && !ForceSimtAttention;

    /// <summary>Query rows per block of attention_flash_f16_k* (4 warps of 16; kernels/attention_flash.cu).</summary>
    public const int AttentionFlashRows = 64;

    private static readonly string[] FlashKernels = ["attention_flash_f16_k1", "attention_flash_f16_k2", "attention_flash_f16_k3", "attention_flash_f16_k4"];

    /// <summary>The flash kernel's entry for head dim <paramref name="d"/>: one per KC = ceil(d / 16) (8..64).</summary>
    public static string AttentionFlashKernel(int d) => FlashKernels[(d + 15) / 16 - 1];

    /// <summary>Whether attention_flash_f16 takes this call: the head dims of attention_mma_f16, and every q/k/v row
    /// start 16-byte aligned (its global loads are 16-byte cp.async copies): pointers at 16 bytes, row strides at 8
    /// halfs (the head offset h*D is then a multiple of 8 halfs too). A window at an odd channel goes to attention_mma_f16.</summary>
    public static bool AttentionOnFlash(int d, IntPtr q, IntPtr k, IntPtr v, int ldq, int ldk, int ldv) =>
        AttentionOnTensorCores(d) && !ForceMmaAttention
        && ((q.ToInt64() | k.ToInt64() | v.ToInt64()) & 15) == 0 && ((ldq | ldk | ldv) & 7) == 0;

    /// <summary>One head wider than the fused kernels take (the VAE's 512), on GEMM - softmax - GEMM when the runtime has
    /// its linear (cuBLASLt); else the SIMT kernel.</summary>
    public static bool AttentionByGemm(int d, int heads, bool hasLinear) =>
        hasLinear && heads == 1 && d > 64 && d % 8 == 0 && !ForceSimtAttention;

    /// <summary>Keys padded to a multiple of 8: the second GEMM's reduction length (cuBLASLt's inF % 8 == 0).</summary>
    public static int AttentionGemmKeys(int lk) => (lk + 7) / 8 * 8;

    /// <summary>Query rows per chunk of the GEMM path: as many as keep the fp16 score chunk within the budget, at least one.</summary>
    public static int AttentionGemmChunk(int lq, int paddedKeys, long budgetBytes) =>
        (int)Math.Clamp(budgetBytes / Math.Max(1L, 2L * paddedKeys), 1, Math.Max(1, lq));

    /// <summary>PISA_ATTENTION_MMA=1: the head dims of the tensor-core kernels on attention_mma_f16 (the previous version).</summary>
    private static readonly bool ForceMmaAttention = Environment.GetEnvironmentVariable("PISA_ATTENTION_MMA") == "1";

    /// <summary>PISA_ATTENTION_SIMT=1: every head dim on the SIMT kernel (to compare the two versions end to end).</summary>
    private static readonly bool ForceSimtAttention = Environment.GetEnvironmentVariable("PISA_ATTENTION_SIMT") == "1";

    /// <summary>Warps (query rows) per block: the largest of 8, 4, 2, 1 whose smem fits 48 KB.</summary>
    public static int AttentionWarps(int d)
    {
        for (int w = 8; w >= 1; w >>= 1)   // 8, 4, 2, 1 (a loop, not an array: this runs on every launch)
            if (AttentionShared(w, d) <= MaxSharedBytes) return w;
        throw new PisaException($"attention: head dim {d} needs more than {MaxSharedBytes} bytes of shared memory");
    }

    // ---- group norm ----
    /// <summary>Threads of gn_fused_f16 (one block per (n, group)).</summary>
    public const int GroupNormFusedThreads = 512;

    /// <summary>Largest group (pixels x channels per group) gn_fused_f16 takes: 128 elements per thread, 128 KB of fp16
    /// read twice (the second time from L2). At 512x512 output the SD UNet's groups are 2 560 to 61 440 elements except
    /// the inputs of its 64x64 up-block resnets (81 920 and 122 880); the VAE's are 65 536 at 64x64 and up to 1 M above.
    /// Bigger groups are split over pixel chunks (two launches) so that they use the whole GPU.</summary>
    public const int GroupNormFusedMaxElements = 65536;

    /// <summary>Whether a GroupNorm over <paramref name="hw"/> pixels of <paramref name="channelsPerGroup"/> channels
    /// runs as the single gn_fused_f16 launch.</summary>
    public static bool GroupNormOneLaunch(int hw, int channelsPerGroup) => (long)hw * channelsPerGroup <= GroupNormFusedMaxElements;

    /// <summary>Pixel chunking for gn_partial_stats: about 8192 elements per block, at most 1024 chunks.
    /// Returns (pixels per chunk, number of chunks); chunks * pixPerChunk covers HW exactly once.</summary>
    public static (int PixPerChunk, int Chunks) GroupNormChunks(int hw, int channelsPerGroup)
    {
        if (hw <= 0) return (1, 1);
        long elems = (long)hw * channelsPerGroup;
        int chunks = (int)Math.Clamp((elems + 8191) / 8192, 1, 1024);
        chunks = Math.Min(chunks, hw);
        int per = (hw + chunks - 1) / chunks;
        return (per, (hw + per - 1) / per);
    }

    // ---- count_nonfinite_f16 ----
    /// <summary>Threads per block of count_nonfinite_f16 (its shared tree is sized for exactly this).</summary>
    public const int NonFiniteThreads = 256;
    /// <summary>At most this many blocks, so the partial counts the host sums stay a few KB.</summary>
    public const int NonFiniteMaxBlocks = 1024;

    public static int NonFiniteBlocks(long n) => (int)Math.Clamp((n + NonFiniteThreads - 1) / NonFiniteThreads, 1, NonFiniteMaxBlocks);
}
