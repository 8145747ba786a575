namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// One typed launcher per kernel in kernels/*.cu. Each method's argument order and types follow the
/// kernel's C signature (quoted above it); tests compare every launch's <see cref="KernelArgs.Kinds"/>
/// with the signatures parsed from the sources. Any failure is rethrown naming the kernel and shapes.
/// </summary>
public sealed class CudaKernels(IGpuRuntime rt)
{
    public IGpuRuntime Runtime => rt;

    private void Go(string file, string kernel, Dim3 grid, Dim3 block, int smem, KernelArgs a, string what)
    {
        if (grid.X <= 0 || grid.Y <= 0 || grid.Z <= 0 || grid.Y > 65535 || grid.Z > 65535)
            throw new PisaException($"CUDA kernel {kernel} ({what}): invalid grid {grid}");
        try { rt.Launch(file, kernel, grid, block, smem, a); }
        catch (PisaException) { throw; }
        catch (Exception e) { throw new PisaException($"CUDA kernel {kernel} ({what}) grid {grid} block {block} smem {smem}: {e.Message}", e); }
    }

    private void Flat(string file, string kernel, long n, KernelArgs a, string what)
    {
        var grid = LaunchMath.FlatGrid(n);
        // The kernels' int grid-stride loop computes i + gridDim.x * blockDim.x before testing i < n: that sum
        // must not pass 2^31 - 1 (signed overflow would wrap to a negative index and write out of bounds).
        if (n + (long)grid.X * LaunchMath.FlatThreads > int.MaxValue)
            throw new PisaException($"CUDA kernel {kernel} ({what}): {n} elements is too many for its int grid-stride loop");
        Go(file, kernel, grid, new Dim3(LaunchMath.FlatThreads), 0, a, what);
    }

    // ---- elementwise.cu ----
    // f32_to_f16(const float* x, half_t* y, int n) / f16_to_f32(const half_t* x, float* y, int n)
    public void F32ToF16(IntPtr x, IntPtr y, int n) => Flat("elementwise.cu", "f32_to_f16", n, new KernelArgs().Ptr(x).Ptr(y).Int(n), $"n={n}");
    public void F16ToF32(IntPtr x, IntPtr y, int n) => Flat("elementwise.cu", "f16_to_f32", n, new KernelArgs().Ptr(x).Ptr(y).Int(n), $"n={n}");

    // silu_f16 / gelu_f16 (const half_t* x, half_t* y, int n)
    public void Unary(string kernel, IntPtr x, IntPtr y, int n) => Flat("elementwise.cu", kernel, n, new KernelArgs().Ptr(x).Ptr(y).Int(n), $"n={n}");

    // geglu_f16(const half_t* x, half_t* y, int n, int F)
    public void Geglu(IntPtr x, IntPtr y, int rows, int f) =>
        Flat("elementwise.cu", "geglu_f16", (long)rows * f, new KernelArgs().Ptr(x).Ptr(y).Int(rows * f).Int(f), $"rows={rows} F={f}");

    // axpby_f16(const half_t* a, const half_t* b, half_t* y, int n, float alpha, float beta)
    public void Axpby(IntPtr a, IntPtr b, IntPtr y, int n, float alpha, float beta) =>
        Flat("elementwise.cu", "axpby_f16", n, new KernelArgs().Ptr(a).Ptr(b).Ptr(y).Int(n).Float(alpha).Float(beta), $"n={n}");

    // scale_shift_f16(const half_t* x, half_t* y, int n, float scale, float shift)
    public void ScaleShift(IntPtr x, IntPtr y, int n, float scale, float shift) =>
        Flat("elementwise.cu", "scale_shift_f16", n, new KernelArgs().Ptr(x).Ptr(y).Int(n).Float(scale).Float(shift), $"n={n}");

    // clamp_f16(const half_t* x, half_t* y, int n, float lo, float hi)
    public void Clamp(IntPtr x, IntPtr y, int n, float lo, float hi) =>
        Flat("elementwise.cu", "clamp_f16", n, new KernelArgs().Ptr(x).Ptr(y).Int(n).Float(lo).Float(hi), $"n={n}");

    // add_channel_vector_f16(const half_t* x, const half_t* v, half_t* y, int n, int innerC, int C, int vBatchStride)
    public void AddChannelVector(IntPtr x, IntPtr v, IntPtr y, int n, int innerC, int c, int vBatchStride) =>
        Flat("elementwise.cu", "add_channel_vector_f16", n,
             new KernelArgs().Ptr(x).Ptr(v).Ptr(y).Int(n).Int(innerC).Int(c).Int(vBatchStride), $"n={n} C={c}");

    // ---- resample.cu ----
    // upsample_nearest_f16(const half_t* x, half_t* y, int n, int H, int W, int C, int OH, int OW)
    public void UpsampleNearest(IntPtr x, IntPtr y, int n, int h, int w, int c, int oh, int ow) =>
        Flat("resample.cu", "upsample_nearest_f16", n, new KernelArgs().Ptr(x).Ptr(y).Int(n).Int(h).Int(w).Int(c).Int(oh).Int(ow),
             $"{h}x{w}x{c} -> {oh}x{ow}");

    // concat_channels_f16(const half_t* a, const half_t* b, half_t* y, int n, int Ca, int Cb)
    public void Concat(IntPtr a, IntPtr b, IntPtr y, int rows, int ca, int cb) =>
        Flat("resample.cu", "concat_channels_f16", (long)rows * (ca + cb),
             new KernelArgs().Ptr(a).Ptr(b).Ptr(y).Int(rows * (ca + cb)).Int(ca).Int(cb), $"rows={rows} Ca={ca} Cb={cb}");

    // slice_channels_f16(const half_t* x, half_t* y, int n, int C, int start, int count)
    public void Slice(IntPtr x, IntPtr y, int rows, int c, int start, int count) =>
        Flat("resample.cu", "slice_channels_f16", (long)rows * count,
             new KernelArgs().Ptr(x).Ptr(y).Int(rows * count).Int(c).Int(start).Int(count), $"rows={rows} C={c} [{start},+{count})");

    // crop_spatial_f16(const half_t* x, half_t* y, int n, int H, int W, int C, int y0, int x0, int OH, int OW)
    public void Crop(IntPtr x, IntPtr y, int n, int h, int w, int c, int y0, int x0, int oh, int ow) =>
        Flat("resample.cu", "crop_spatial_f16", n,
             new KernelArgs().Ptr(x).Ptr(y).Int(n).Int(h).Int(w).Int(c).Int(y0).Int(x0).Int(oh).Int(ow), $"{h}x{w}x{c} crop {oh}x{ow} at ({y0},{x0})");

    // ---- norm.cu ----
    // gn_partial_stats(const half_t* x, float* partial, int HW, int C, int G, int pixPerChunk)   grid (chunks, N*G), 256 threads
    public void GnPartialStats(IntPtr x, IntPtr partial, int n, int hw, int c, int g, int pixPerChunk, int chunks) =>
        Go("norm.cu", "gn_partial_stats", new Dim3(chunks, n * g), new Dim3(256), 0,
           new KernelArgs().Ptr(x).Ptr(partial).Int(hw).Int(c).Int(g).Int(pixPerChunk), $"N={n} HW={hw} C={c} G={g}");

    // gn_finalize_stats(const float* partial, float* meanVar, int NG, int chunks)
    public void GnFinalizeStats(IntPtr partial, IntPtr meanVar, int ng, int chunks) =>
        Go("norm.cu", "gn_finalize_stats", new Dim3((ng + 255) / 256), new Dim3(256), 0,
           new KernelArgs().Ptr(partial).Ptr(meanVar).Int(ng).Int(chunks), $"NG={ng} chunks={chunks}");

    // gn_apply(const half_t* x, const float* meanVar, const float* gamma, const float* beta, half_t* y,
    //          int total, int HWC, int C, int G, float eps, int silu)
    public void GnApply(IntPtr x, IntPtr meanVar, IntPtr gamma, IntPtr beta, IntPtr y, int total, int hwc, int c, int g, float eps, bool silu) =>
        Flat("norm.cu", "gn_apply", total,
             new KernelArgs().Ptr(x).Ptr(meanVar).Ptr(gamma).Ptr(beta).Ptr(y).Int(total).Int(hwc).Int(c).Int(g).Float(eps).Int(silu ? 1 : 0),
             $"total={total} C={c} G={g}");

    // layernorm_f16(const half_t* x, const float* gamma, const float* beta, half_t* y, int rows, int C, float eps)  grid rows, 128 threads
    public void LayerNorm(IntPtr x, IntPtr gamma, IntPtr beta, IntPtr y, int rows, int c, float eps) =>
        Go("norm.cu", "layernorm_f16", new Dim3(rows), new Dim3(128), 0,
           new KernelArgs().Ptr(x).Ptr(gamma).Ptr(beta).Ptr(y).Int(rows).Int(c).Float(eps), $"rows={rows} C={c}");

    // ---- conv.cu ----
    // conv2d_igemm_f16(const half_t* x, const half_t* w, const float* bias, const half_t* residual, half_t* y,
    //     int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp)
    public void Conv2d(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y,
                       int n, int h, int wd, int c, int o, int oh, int ow, int kh, int kw, int stride, int padTop, int padLeft, int kp) =>
        Go("conv.cu", "conv2d_igemm_f16", LaunchMath.ConvGrid((long)n * oh * ow, o), new Dim3(LaunchMath.ConvThreads), 0,
           new KernelArgs().Ptr(x).Ptr(w).Ptr(bias).Ptr(residual).Ptr(y)
               .Int(n).Int(h).Int(wd).Int(c).Int(o).Int(oh).Int(ow).Int(kh).Int(kw).Int(stride).Int(padTop).Int(padLeft).Int(kp),
           $"x [{n},{h},{wd},{c}] w [{o},{c},{kh},{kw}] stride {stride} -> [{n},{oh},{ow},{o}]");

    // ---- attention.cu ----
    // attention_f16(const half_t* q, const half_t* k, const half_t* v, half_t* out, int Lq, int Lk, int H, int D, float scale, int causal)
    public void Attention(IntPtr q, IntPtr k, IntPtr v, IntPtr o, int b, int lq, int lk, int heads, int d, bool causal)
    {
        int warps = LaunchMath.AttentionWarps(d);
        Go("attention.cu", "attention_f16", new Dim3((lq + warps - 1) / warps, heads, b), new Dim3(32 * warps), LaunchMath.AttentionShared(warps, d),
           new KernelArgs().Ptr(q).Ptr(k).Ptr(v).Ptr(o).Int(lq).Int(lk).Int(heads).Int(d).Float(1.0f / MathF.Sqrt(d)).Int(causal ? 1 : 0),
           $"B={b} Lq={lq} Lk={lk} H={heads} D={d}");
    }

    // ---- finite.cu ----
    // count_nonfinite_f16(const half_t* x, int* partial, int n)   grid min(ceil(n/256), 1024), 256 threads
    public void CountNonFinite(IntPtr x, IntPtr partial, int n, int blocks)
    {
        // Same int grid-stride loop as the flat kernels: i + gridDim.x * blockDim.x must stay below 2^31.
        if (n + (long)blocks * LaunchMath.NonFiniteThreads > int.MaxValue)
            throw new PisaException($"CUDA kernel count_nonfinite_f16: {n} elements is too many for its int grid-stride loop");
        Go("finite.cu", "count_nonfinite_f16", new Dim3(blocks), new Dim3(LaunchMath.NonFiniteThreads), 0,
           new KernelArgs().Ptr(x).Ptr(partial).Int(n), $"n={n}");
    }
}

