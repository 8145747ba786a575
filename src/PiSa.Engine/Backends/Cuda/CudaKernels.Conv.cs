namespace PiSa.Engine.Backends.Cuda;

public sealed partial class CudaKernels
{
    // ---- conv_pipe.cu ----
    // conv2d_pipe_{128x128,128x64,64x64}[_gather]_f16 and, in module conv_pipe.cu+wgmma, conv2d_wgmma_128x128[_gather]_f16
    //    (const half_t* x, const half_t* w, const float* bias, const half_t* residual,
    //     half_t* y, float* partial, int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride,
    //     int padTop, int padLeft, int Kp, int kTilesPerSplit, int silu, const half_t* x2, int C1, int up, int geglu)
    //   grid (ceil(M/BM), ceil(O/BN), splits), dynamic smem LaunchMath.ConvPipeSharedBytes. The _gather kernels take
    //   input.X2 / C1 / Up (a concat, a nearest 2x upsampling; H, W are then the upsampled sizes); geglu = F > 0: the
    //   GEGLU epilogue, O the packed rows (WeightPacking.PackGegluWeight) and y [M][F].
    public void ConvPipe(ConvTile tile, ConvInput input, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y, IntPtr partial,
                         int n, int h, int wd, int c, int o, int oh, int ow, int kh, int kw, int stride, int padTop, int padLeft, int kp,
                         int tilesPerSplit, int splits, bool silu, int geglu)
    {
        var (bm, bn, threads, _) = LaunchMath.ConvTileShape(tile);
        long gx = ((long)n * oh * ow + bm - 1) / bm;
        if (gx > int.MaxValue) throw new PisaException($"conv2d: {(long)n * oh * ow} output pixels is too many for one launch");
        Go(LaunchMath.ConvModule(tile), LaunchMath.ConvKernelName(tile, input.Gathers), new Dim3((int)gx, (o + bn - 1) / bn, splits), new Dim3(threads),
           LaunchMath.ConvPipeSharedBytes(tile),
           A().Ptr(input.X).Ptr(w).Ptr(bias).Ptr(residual).Ptr(y).Ptr(partial)
               .Int(n).Int(h).Int(wd).Int(c).Int(o).Int(oh).Int(ow).Int(kh).Int(kw).Int(stride).Int(padTop).Int(padLeft).Int(kp)
               .Int(tilesPerSplit).Int(silu ? 1 : 0).Ptr(input.X2).Int(input.X2 != IntPtr.Zero ? input.C1 : c).Int(input.Up ? 1 : 0).Int(geglu),
           static a => $"x [{a.IntAt(6)},{a.IntAt(7)},{a.IntAt(8)},{a.IntAt(9)}] w [{a.IntAt(10)},{a.IntAt(9)},{a.IntAt(13)},{a.IntAt(14)}] stride {a.IntAt(15)} -> [{a.IntAt(6)},{a.IntAt(11)},{a.IntAt(12)},{a.IntAt(10)}] k-tiles/split {a.IntAt(19)}");
    }

    // conv_splitk_reduce_geglu_f16(const float* partial, const float* bias, half_t* y, int n, int O, int F, int splits); n = M*F
    public void ConvSplitReduceGeglu(IntPtr partial, IntPtr bias, IntPtr y, int n, int o, int f, int splits) =>
        Flat("conv_pipe.cu", "conv_splitk_reduce_geglu_f16", n, A().Ptr(partial).Ptr(bias).Ptr(y).Int(n).Int(o).Int(f).Int(splits),
             static a => $"n={a.IntAt(3)} O={a.IntAt(4)} F={a.IntAt(5)} splits={a.IntAt(6)}");

    // conv_splitk_reduce_f16(const float* partial, const float* bias, const half_t* residual, half_t* y, int n, int O, int splits, int silu)
    public void ConvSplitReduce(IntPtr partial, IntPtr bias, IntPtr residual, IntPtr y, int n, int o, int splits, bool silu) =>
        Flat("conv_pipe.cu", "conv_splitk_reduce_f16", n, A().Ptr(partial).Ptr(bias).Ptr(residual).Ptr(y).Int(n).Int(o).Int(splits).Int(silu ? 1 : 0),
             static a => $"n={a.IntAt(4)} O={a.IntAt(5)} splits={a.IntAt(6)}");
}

/// <summary>What a conv_pipe kernel gathers from: x alone (the plain kernels), or through the _gather kernels x's
/// nearest 2x upsampling (<see cref="Up"/>) and/or x's C1 channels followed by x2's (a channel concat).</summary>
public readonly record struct ConvInput(IntPtr X, IntPtr X2 = default, int C1 = 0, bool Up = false)
{
    public bool Gathers => Up || X2 != IntPtr.Zero;
}
