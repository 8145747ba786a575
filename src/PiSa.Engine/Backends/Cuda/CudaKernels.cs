namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// One typed launcher per kernel in kernels/*.cu. Each method's argument order and types follow the
/// kernel's C signature (quoted above it); tests compare every launch's <see cref="KernelArgs.Kinds"/>
/// with the signatures parsed from the sources. Any failure is rethrown naming the kernel and shapes.
/// </summary>
public sealed partial class CudaKernels(IGpuRuntime rt)
{
    public IGpuRuntime Runtime => rt;

    // One argument block for every launch: the launch path allocates nothing (runtimes that keep arguments clone them).
    private readonly KernelArgs _args = new();
    private KernelArgs A() => _args.Reset();

    /// <summary>Told about every launch when set (the profiler).</summary>
    public ILaunchObserver? Observer { get; set; }

    /// <param name="what">describes the launch for an error message; called only on failure, from the arguments
    /// (a static lambda: no closure, no string formatted per launch).</param>
    private void Go(string file, string kernel, Dim3 grid, Dim3 block, int smem, KernelArgs a, Func<KernelArgs, string> what)
    {
        if (grid.X <= 0 || grid.Y <= 0 || grid.Z <= 0 || grid.Y > 65535 || grid.Z > 65535)
            throw new PisaException($"CUDA kernel {kernel} ({what(a)}): invalid grid {grid}");
        try
        {
            Observer?.BeforeLaunch(kernel, grid, block, a);
            rt.Launch(file, kernel, grid, block, smem, a);
            Observer?.AfterLaunch(kernel, grid, block, a);
        }
        catch (PisaException) { throw; }
        catch (Exception e) { throw new PisaException($"CUDA kernel {kernel} ({what(a)}) grid {grid} block {block} smem {smem}: {e.Message}", e); }
    }

    private void Flat(string file, string kernel, long n, KernelArgs a, Func<KernelArgs, string> what)
    {
        var grid = LaunchMath.FlatGrid(n);
        // The kernels' int grid-stride loop computes i + gridDim.x * blockDim.x before testing i < n: that sum
        // must not pass 2^31 - 1 (signed overflow would wrap to a negative index and write out of bounds).
        if (n + (long)grid.X * LaunchMath.FlatThreads > int.MaxValue)
            throw new PisaException($"CUDA kernel {kernel} ({what(a)}): {n} elements is too many for its int grid-stride loop");
        Go(file, kernel, grid, new Dim3(LaunchMath.FlatThreads), 0, a, what);
    }

    // ---- elementwise.cu ----
    // f32_to_f16(const float* x, half_t* y, int n) / f16_to_f32(const half_t* x, float* y, int n)
    public void F32ToF16(IntPtr x, IntPtr y, int n) => Flat("elementwise.cu", "f32_to_f16", n, A().Ptr(x).Ptr(y).Int(n), static a => $"n={a.IntAt(2)}");
    public void F16ToF32(IntPtr x, IntPtr y, int n) => Flat("elementwise.cu", "f16_to_f32", n, A().Ptr(x).Ptr(y).Int(n), static a => $"n={a.IntAt(2)}");

    // silu_f16 / gelu_f16 (const half_t* x, half_t* y, int n)
    public void Unary(string kernel, IntPtr x, IntPtr y, int n) => Flat("elementwise.cu", kernel, n, A().Ptr(x).Ptr(y).Int(n), static a => $"n={a.IntAt(2)}");

    // geglu_f16(const half_t* x, half_t* y, int n, int F)
    public void Geglu(IntPtr x, IntPtr y, int rows, int f) =>
        Flat("elementwise.cu", "geglu_f16", (long)rows * f, A().Ptr(x).Ptr(y).Int(rows * f).Int(f), static a => $"n={a.IntAt(2)} F={a.IntAt(3)}");

    // axpby_f16(const half_t* a, const half_t* b, half_t* y, int n, float alpha, float beta)
    public void Axpby(IntPtr a, IntPtr b, IntPtr y, int n, float alpha, float beta) =>
        Flat("elementwise.cu", "axpby_f16", n, A().Ptr(a).Ptr(b).Ptr(y).Int(n).Float(alpha).Float(beta), static a => $"n={a.IntAt(3)}");

    // scale_shift_f16(const half_t* x, half_t* y, int n, float scale, float shift)
    public void ScaleShift(IntPtr x, IntPtr y, int n, float scale, float shift) =>
        Flat("elementwise.cu", "scale_shift_f16", n, A().Ptr(x).Ptr(y).Int(n).Float(scale).Float(shift), static a => $"n={a.IntAt(2)}");

    // clamp_f16(const half_t* x, half_t* y, int n, float lo, float hi)
    public void Clamp(IntPtr x, IntPtr y, int n, float lo, float hi) =>
        Flat("elementwise.cu", "clamp_f16", n, A().Ptr(x).Ptr(y).Int(n).Float(lo).Float(hi), static a => $"n={a.IntAt(2)}");

    // add_channel_vector_f16(const half_t* x, const half_t* v, half_t* y, int n, int innerC, int C, int vBatchStride)
    public void AddChannelVector(IntPtr x, IntPtr v, IntPtr y, int n, int innerC, int c, int vBatchStride) =>
        Flat("elementwise.cu", "add_channel_vector_f16", n,
             A().Ptr(x).Ptr(v).Ptr(y).Int(n).Int(innerC).Int(c).Int(vBatchStride), static a => $"n={a.IntAt(3)} C={a.IntAt(5)}");

    // ---- resample.cu ----
    // upsample_nearest_f16(const half_t* x, half_t* y, int n, int H, int W, int C, int OH, int OW)
    public void UpsampleNearest(IntPtr x, IntPtr y, int n, int h, int w, int c, int oh, int ow) =>
        Flat("resample.cu", "upsample_nearest_f16", n, A().Ptr(x).Ptr(y).Int(n).Int(h).Int(w).Int(c).Int(oh).Int(ow),
             static a => $"{a.IntAt(3)}x{a.IntAt(4)}x{a.IntAt(5)} -> {a.IntAt(6)}x{a.IntAt(7)}");

    // concat_channels_f16(const half_t* a, const half_t* b, half_t* y, int n, int Ca, int Cb)
    public void Concat(IntPtr a, IntPtr b, IntPtr y, int rows, int ca, int cb) =>
        Flat("resample.cu", "concat_channels_f16", (long)rows * (ca + cb),
             A().Ptr(a).Ptr(b).Ptr(y).Int(rows * (ca + cb)).Int(ca).Int(cb), static a => $"n={a.IntAt(3)} Ca={a.IntAt(4)} Cb={a.IntAt(5)}");

    // slice_channels_f16(const half_t* x, half_t* y, int n, int C, int start, int count)
    public void Slice(IntPtr x, IntPtr y, int rows, int c, int start, int count) =>
        Flat("resample.cu", "slice_channels_f16", (long)rows * count,
             A().Ptr(x).Ptr(y).Int(rows * count).Int(c).Int(start).Int(count), static a => $"n={a.IntAt(2)} C={a.IntAt(3)} [{a.IntAt(4)},+{a.IntAt(5)})");

    // crop_spatial_f16(const half_t* x, half_t* y, int n, int H, int W, int C, int y0, int x0, int OH, int OW)
    public void Crop(IntPtr x, IntPtr y, int n, int h, int w, int c, int y0, int x0, int oh, int ow) =>
        Flat("resample.cu", "crop_spatial_f16", n,
             A().Ptr(x).Ptr(y).Int(n).Int(h).Int(w).Int(c).Int(y0).Int(x0).Int(oh).Int(ow), static a => $"{a.IntAt(3)}x{a.IntAt(4)}x{a.IntAt(5)} crop {a.IntAt(8)}x{a.IntAt(9)} at ({a.IntAt(6)},{a.IntAt(7)})");

    // ---- norm.cu ----
    // The _cat kernels read the channel concat of a [.., C1] and b [.., C - C1] in place (the UNet's skip connection).
    // gn_fused_cat_f16(a, b, gamma, beta, y, int HW, int C, int G, int C1, float eps, int silu)   grid N*G
    public void GnFusedCat(IntPtr a, IntPtr b, IntPtr gamma, IntPtr beta, IntPtr y, int n, int hw, int c, int g, int c1, float eps, bool silu) =>
        Go("norm.cu", "gn_fused_cat_f16", new Dim3(n * g), new Dim3(LaunchMath.GroupNormFusedThreads), 0,
           A().Ptr(a).Ptr(b).Ptr(gamma).Ptr(beta).Ptr(y).Int(hw).Int(c).Int(g).Int(c1).Float(eps).Int(silu ? 1 : 0),
           static a => $"HW={a.IntAt(5)} C={a.IntAt(6)} G={a.IntAt(7)} C1={a.IntAt(8)}");

    // gn_partial_stats_cat(a, b, float* partial, int HW, int C, int G, int C1, int pixPerChunk)   grid (chunks, N*G), 256 threads
    public void GnPartialStatsCat(IntPtr a, IntPtr b, IntPtr partial, int n, int hw, int c, int g, int c1, int pixPerChunk, int chunks) =>
        Go("norm.cu", "gn_partial_stats_cat", new Dim3(chunks, n * g), new Dim3(256), 0,
           A().Ptr(a).Ptr(b).Ptr(partial).Int(hw).Int(c).Int(g).Int(c1).Int(pixPerChunk), static a => $"HW={a.IntAt(3)} C={a.IntAt(4)} G={a.IntAt(5)} C1={a.IntAt(6)}");

    // gn_apply_partials_cat(a, b, partial, gamma, beta, y, int HW, int C, int G, int C1, int pixPerChunk, float eps, int silu)
    public void GnApplyPartialsCat(IntPtr a, IntPtr b, IntPtr partial, IntPtr gamma, IntPtr beta, IntPtr y, int n, int hw, int c, int g, int c1,
                                   int pixPerChunk, int chunks, float eps, bool silu) =>
        Go("norm.cu", "gn_apply_partials_cat", new Dim3(chunks, n * g), new Dim3(256), 0,
           A().Ptr(a).Ptr(b).Ptr(partial).Ptr(gamma).Ptr(beta).Ptr(y).Int(hw).Int(c).Int(g).Int(c1).Int(pixPerChunk).Float(eps).Int(silu ? 1 : 0),
           static a => $"HW={a.IntAt(6)} C={a.IntAt(7)} G={a.IntAt(8)} C1={a.IntAt(9)} pixPerChunk={a.IntAt(10)}");

    // gn_partial_stats(const half_t* x, float* partial, int HW, int C, int G, int pixPerChunk)   grid (chunks, N*G), 256 threads
    public void GnPartialStats(IntPtr x, IntPtr partial, int n, int hw, int c, int g, int pixPerChunk, int chunks) =>
        Go("norm.cu", "gn_partial_stats", new Dim3(chunks, n * g), new Dim3(256), 0,
           A().Ptr(x).Ptr(partial).Int(hw).Int(c).Int(g).Int(pixPerChunk), static a => $"HW={a.IntAt(2)} C={a.IntAt(3)} G={a.IntAt(4)}");

    // gn_fused_f16(const half_t* x, const float* gamma, const float* beta, half_t* y, int HW, int C, int G, float eps, int silu)
    //   grid N*G, GroupNormFusedThreads threads
    public void GnFused(IntPtr x, IntPtr gamma, IntPtr beta, IntPtr y, int n, int hw, int c, int g, float eps, bool silu) =>
        Go("norm.cu", "gn_fused_f16", new Dim3(n * g), new Dim3(LaunchMath.GroupNormFusedThreads), 0,
           A().Ptr(x).Ptr(gamma).Ptr(beta).Ptr(y).Int(hw).Int(c).Int(g).Float(eps).Int(silu ? 1 : 0),
           static a => $"HW={a.IntAt(4)} C={a.IntAt(5)} G={a.IntAt(6)}");

    // gn_apply_partials(const half_t* x, const float* partial, const float* gamma, const float* beta, half_t* y,
    //                   int HW, int C, int G, int pixPerChunk, float eps, int silu)   grid (chunks, N*G), 256 threads
    public void GnApplyPartials(IntPtr x, IntPtr partial, IntPtr gamma, IntPtr beta, IntPtr y, int n, int hw, int c, int g,
                                int pixPerChunk, int chunks, float eps, bool silu) =>
        Go("norm.cu", "gn_apply_partials", new Dim3(chunks, n * g), new Dim3(256), 0,
           A().Ptr(x).Ptr(partial).Ptr(gamma).Ptr(beta).Ptr(y).Int(hw).Int(c).Int(g).Int(pixPerChunk).Float(eps).Int(silu ? 1 : 0),
           static a => $"HW={a.IntAt(5)} C={a.IntAt(6)} G={a.IntAt(7)} pixPerChunk={a.IntAt(8)}");

    // gn_finalize_stats(const float* partial, float* meanVar, int NG, int chunks)
    public void GnFinalizeStats(IntPtr partial, IntPtr meanVar, int ng, int chunks) =>
        Go("norm.cu", "gn_finalize_stats", new Dim3((ng + 255) / 256), new Dim3(256), 0,
           A().Ptr(partial).Ptr(meanVar).Int(ng).Int(chunks), static a => $"NG={a.IntAt(2)} chunks={a.IntAt(3)}");

    // gn_apply(const half_t* x, const float* meanVar, const float* gamma, const float* beta, half_t* y,
    //          int total, int HWC, int C, int G, float eps, int silu)
    public void GnApply(IntPtr x, IntPtr meanVar, IntPtr gamma, IntPtr beta, IntPtr y, int total, int hwc, int c, int g, float eps, bool silu) =>
        Flat("norm.cu", "gn_apply", total,
             A().Ptr(x).Ptr(meanVar).Ptr(gamma).Ptr(beta).Ptr(y).Int(total).Int(hwc).Int(c).Int(g).Float(eps).Int(silu ? 1 : 0),
             static a => $"total={a.IntAt(5)} C={a.IntAt(7)} G={a.IntAt(8)}");

    // layernorm_f16(const half_t* x, const float* gamma, const float* beta, half_t* y, int rows, int C, float eps)  grid rows, 128 threads
    public void LayerNorm(IntPtr x, IntPtr gamma, IntPtr beta, IntPtr y, int rows, int c, float eps) =>
        Go("norm.cu", "layernorm_f16", new Dim3(rows), new Dim3(128), 0,
           A().Ptr(x).Ptr(gamma).Ptr(beta).Ptr(y).Int(rows).Int(c).Float(eps), static a => $"rows={a.IntAt(4)} C={a.IntAt(5)}");

    // ---- conv.cu ----
    // conv2d_igemm_f16(const half_t* x, const half_t* w, const float* bias, const half_t* residual, half_t* y,
    //     int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp)
    public void Conv2d(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y,
                       int n, int h, int wd, int c, int o, int oh, int ow, int kh, int kw, int stride, int padTop, int padLeft, int kp) =>
        Go("conv.cu", "conv2d_igemm_f16", LaunchMath.ConvGrid((long)n * oh * ow, o), new Dim3(LaunchMath.ConvThreads), 0,
           A().Ptr(x).Ptr(w).Ptr(bias).Ptr(residual).Ptr(y)
               .Int(n).Int(h).Int(wd).Int(c).Int(o).Int(oh).Int(ow).Int(kh).Int(kw).Int(stride).Int(padTop).Int(padLeft).Int(kp),
           static a => $"x [{a.IntAt(5)},{a.IntAt(6)},{a.IntAt(7)},{a.IntAt(8)}] w [{a.IntAt(9)},{a.IntAt(8)},{a.IntAt(12)},{a.IntAt(13)}] stride {a.IntAt(14)} -> [{a.IntAt(5)},{a.IntAt(10)},{a.IntAt(11)},{a.IntAt(9)}]");

    // ---- attention.cu, attention_flash.cu ----
    // attention_f16 / attention_mma_f16 / attention_flash_f16_k{1..4} (const half_t* q, const half_t* k, const half_t* v,
    //               half_t* out, int Lq, int Lk, int H, int D, int ldq, int ldk, int ldv, float scale, int causal)
    /// <summary>The default version for the shape: flash (tensor cores, cp.async) where its alignment holds, else the
    /// first tensor-core version, else SIMT (any head dim up to 512).</summary>
    public void Attention(IntPtr q, IntPtr k, IntPtr v, IntPtr o, int b, int lq, int lk, int heads, int d, int ldq, int ldk, int ldv, bool causal)
    {
        if (LaunchMath.AttentionOnFlash(d, q, k, v, ldq, ldk, ldv)) AttentionFlash(q, k, v, o, b, lq, lk, heads, d, ldq, ldk, ldv, causal);
        else if (LaunchMath.AttentionOnTensorCores(d)) AttentionMma(q, k, v, o, b, lq, lk, heads, d, ldq, ldk, ldv, causal);
        else AttentionSimt(q, k, v, o, b, lq, lk, heads, d, ldq, ldk, ldv, causal);
    }

    private KernelArgs AttentionArgs(IntPtr q, IntPtr k, IntPtr v, IntPtr o, int lq, int lk, int heads, int d, int ldq, int ldk, int ldv, bool causal) =>
        A().Ptr(q).Ptr(k).Ptr(v).Ptr(o).Int(lq).Int(lk).Int(heads).Int(d).Int(ldq).Int(ldk).Int(ldv).Float(1.0f / MathF.Sqrt(d)).Int(causal ? 1 : 0);

    /// <summary>attention_flash_f16_k*: 64 query rows per block of 4 warps, static shared memory; D % 8 == 0, D &lt;= 64,
    /// 16-byte aligned rows (<see cref="LaunchMath.AttentionOnFlash"/>).</summary>
    public void AttentionFlash(IntPtr q, IntPtr k, IntPtr v, IntPtr o, int b, int lq, int lk, int heads, int d, int ldq, int ldk, int ldv, bool causal)
    {
        if (d % 8 != 0 || d > 64 || d <= 0 || ((q.ToInt64() | k.ToInt64() | v.ToInt64()) & 15) != 0 || ((ldq | ldk | ldv) & 7) != 0)
            throw new PisaException($"attention_flash_f16: head dim {d} or row alignment (ld {ldq}/{ldk}/{ldv}) outside what it takes");
        Go("attention_flash.cu", LaunchMath.AttentionFlashKernel(d), new Dim3((lq + LaunchMath.AttentionFlashRows - 1) / LaunchMath.AttentionFlashRows, heads, b),
           new Dim3(128), 0, AttentionArgs(q, k, v, o, lq, lk, heads, d, ldq, ldk, ldv, causal),
           static a => $"Lq={a.IntAt(4)} Lk={a.IntAt(5)} H={a.IntAt(6)} D={a.IntAt(7)} ld q/k/v {a.IntAt(8)}/{a.IntAt(9)}/{a.IntAt(10)} (flash)");
    }

    /// <summary>attention_mma_f16: 64 query rows per block of 4 warps, static shared memory; D % 8 == 0, D &lt;= 64.</summary>
    public void AttentionMma(IntPtr q, IntPtr k, IntPtr v, IntPtr o, int b, int lq, int lk, int heads, int d, int ldq, int ldk, int ldv, bool causal)
    {
        if (d % 8 != 0 || d > 64 || d <= 0) throw new PisaException($"attention_mma_f16: head dim {d} outside what it takes");
        Go("attention.cu", "attention_mma_f16", new Dim3((lq + LaunchMath.AttentionMmaRows - 1) / LaunchMath.AttentionMmaRows, heads, b),
           new Dim3(128), 0, AttentionArgs(q, k, v, o, lq, lk, heads, d, ldq, ldk, ldv, causal),
           static a => $"Lq={a.IntAt(4)} Lk={a.IntAt(5)} H={a.IntAt(6)} D={a.IntAt(7)} ld q/k/v {a.IntAt(8)}/{a.IntAt(9)}/{a.IntAt(10)} (tensor cores)");
    }

    /// <summary>attention_f16, the SIMT reference version: one warp per query row, any head dim up to 512.</summary>
    public void AttentionSimt(IntPtr q, IntPtr k, IntPtr v, IntPtr o, int b, int lq, int lk, int heads, int d, int ldq, int ldk, int ldv, bool causal)
    {
        int warps = LaunchMath.AttentionWarps(d);
        Go("attention.cu", "attention_f16", new Dim3((lq + warps - 1) / warps, heads, b), new Dim3(32 * warps), LaunchMath.AttentionShared(warps, d),
           AttentionArgs(q, k, v, o, lq, lk, heads, d, ldq, ldk, ldv, causal),
           static a => $"Lq={a.IntAt(4)} Lk={a.IntAt(5)} H={a.IntAt(6)} D={a.IntAt(7)} ld q/k/v {a.IntAt(8)}/{a.IntAt(9)}/{a.IntAt(10)}");
    }

    // ---- attention_gemm.cu (CudaOps.Attention.cs: GEMM - softmax - GEMM for one large head) ----
    // attn_pack_rows_f16(const half_t* src, half_t* dst, int rows, int rowsPadded, int D, int ld, float scale)
    public void AttnPackRows(IntPtr src, IntPtr dst, int rows, int rowsPadded, int d, int ld, float scale) =>
        Flat("attention_gemm.cu", "attn_pack_rows_f16", (long)rowsPadded * d, A().Ptr(src).Ptr(dst).Int(rows).Int(rowsPadded).Int(d).Int(ld).Float(scale),
             static a => $"rows={a.IntAt(2)} padded {a.IntAt(3)} D={a.IntAt(4)} ld={a.IntAt(5)}");

    // attn_pack_transpose_f16(const half_t* src, half_t* dst, int rows, int rowsPadded, int D, int ld)   grid (ceil(rowsPadded/32), ceil(D/32)), 32 x 8
    public void AttnPackTranspose(IntPtr src, IntPtr dst, int rows, int rowsPadded, int d, int ld) =>
        Go("attention_gemm.cu", "attn_pack_transpose_f16", new Dim3((rowsPadded + 31) / 32, (d + 31) / 32), new Dim3(32, 8), 0,
           A().Ptr(src).Ptr(dst).Int(rows).Int(rowsPadded).Int(d).Int(ld), static a => $"rows={a.IntAt(2)} padded {a.IntAt(3)} D={a.IntAt(4)} ld={a.IntAt(5)}");

    // attn_softmax_rows_f16(half_t* s, int rows, int cols, int ld, int qOffset, int causal)   grid rows, 256 threads
    public void AttnSoftmaxRows(IntPtr s, int rows, int cols, int ld, int qOffset, bool causal) =>
        Go("attention_gemm.cu", "attn_softmax_rows_f16", new Dim3(rows), new Dim3(256), 0,
           A().Ptr(s).Int(rows).Int(cols).Int(ld).Int(qOffset).Int(causal ? 1 : 0), static a => $"rows={a.IntAt(1)} cols={a.IntAt(2)} ld={a.IntAt(3)}");

    // ---- finite.cu ----
    // count_nonfinite_f16(const half_t* x, int* partial, int n)   grid min(ceil(n/256), 1024), 256 threads
    public void CountNonFinite(IntPtr x, IntPtr partial, int n, int blocks)
    {
        // Same int grid-stride loop as the flat kernels: i + gridDim.x * blockDim.x must stay below 2^31.
        if (n + (long)blocks * LaunchMath.NonFiniteThreads > int.MaxValue)
            throw new PisaException($"CUDA kernel count_nonfinite_f16: {n} elements is too many for its int grid-stride loop");
        Go("finite.cu", "count_nonfinite_f16", new Dim3(blocks), new Dim3(LaunchMath.NonFiniteThreads), 0,
           A().Ptr(x).Ptr(partial).Int(n), static a => $"n={a.IntAt(2)}");
    }
}

