using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// Host-side checks of the conv weight packing and of the implicit-GEMM index math: a C# replay of
/// conv2d_igemm_f16's decode (per-row window origin, k -> (ky, kx, ci), 64x64x32 tiles, zero fill,
/// padded K) on the packed fp16 weights must equal a direct convolution written from the PyTorch
/// definition on NCHW-ordered loops.
/// </summary>
public class WeightPackingTests
{
    private static HostTensor Rand(Random r, params int[] shape)
    {
        var t = new HostTensor(shape);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)Math.Round(r.NextDouble() * 4 - 2, 2);
        return t;
    }

    [Fact]
    public void PackingPutsEachWeightAtItsGemmIndexAndZeroPads()
    {
        var r = new Random(1);
        var w = Rand(r, 5, 3, 3, 3);
        ushort[] p = WeightPacking.PackConvWeight(w, out int k, out int kp);
        Assert.Equal(27, k);
        Assert.Equal(32, kp);
        Assert.Equal(5 * 32, p.Length);
        for (int o = 0; o < 5; o++)
        {
            for (int ci = 0; ci < 3; ci++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        Assert.Equal((float)(Half)w.Data[((o * 3 + ci) * 3 + ky) * 3 + kx],
                                     WeightPacking.FromHalfBits(p[o * kp + (ky * 3 + kx) * 3 + ci]));
            for (int kk = k; kk < kp; kk++) Assert.Equal(0, p[o * kp + kk]);
        }
        var lin = Rand(r, 4, 16);
        ushort[] pl = WeightPacking.PackConvWeight(lin, out int k2, out int kp2);
        Assert.Equal(16, k2); Assert.Equal(16, kp2);
        for (int i = 0; i < lin.Data.Length; i++) Assert.Equal((float)(Half)lin.Data[i], WeightPacking.FromHalfBits(pl[i]));
    }

    /// <summary>Direct convolution: NHWC x, PyTorch [O, I, kh, kw] weight, zero padding.</summary>
    private static float[] DirectConv(HostTensor x, HostTensor w, int stride, Pad2d pad, out int oh, out int ow)
    {
        int n = x.Shape[0], h = x.Shape[1], wd = x.Shape[2], c = x.Shape[3], o = w.Shape[0], kh = w.Shape[2], kw = w.Shape[3];
        oh = (h + pad.Top + pad.Bottom - kh) / stride + 1; ow = (wd + pad.Left + pad.Right - kw) / stride + 1;
        var y = new float[n * oh * ow * o];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int oc = 0; oc < o; oc++)
                    {
                        double s = 0;
                        for (int ci = 0; ci < c; ci++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int iy = oy * stride + ky - pad.Top, ix = ox * stride + kx - pad.Left;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    s += (double)(float)(Half)x.Data[((b * h + iy) * wd + ix) * c + ci] * (float)(Half)w.Data[((oc * c + ci) * kh + ky) * kw + kx];
                                }
                        y[((b * oh + oy) * ow + ox) * o + oc] = (float)s;
                    }
        return y;
    }

    /// <summary>Replays conv2d_igemm_f16's tiling and index decode on the host (both gather paths).</summary>
    private static float[] ImplicitGemmReplay(HostTensor x, ushort[] wp, int o, int kh, int kw, int kp, int stride, Pad2d pad, int oh, int ow)
    {
        int n = x.Shape[0], h = x.Shape[1], wd = x.Shape[2], c = x.Shape[3];
        int m = n * oh * ow, k = kh * kw * c;
        var y = new float[m * o];
        bool vec = c % 8 == 0;
        var grid = LaunchMath.ConvGrid(m, o);
        var pix = new int[64]; var iy0 = new int[64]; var ix0 = new int[64];
        var a = new float[64, 32]; var bt = new float[64, 32];
        for (int bx = 0; bx < grid.X; bx++)
            for (int by = 0; by < grid.Y; by++)
            {
                int m0 = bx * 64, n0 = by * 64;
                for (int t = 0; t < 64; t++)
                {
                    int mm = m0 + t;
                    if (mm < m) { int oxx = mm % ow, q = mm / ow, oyy = q % oh, nb = q / oh; pix[t] = nb * h * wd; iy0[t] = oyy * stride - pad.Top; ix0[t] = oxx * stride - pad.Left; }
                    else { pix[t] = 0; iy0[t] = -(1 << 29); ix0[t] = -(1 << 29); }
                }
                var acc = new double[64, 64];
                for (int k0 = 0; k0 < kp; k0 += 32)
                {
                    for (int row = 0; row < 64; row++)
                        for (int col = 0; col < 32; col++)
                        {
                            int kk = k0 + col; float v = 0;
                            // vec path decodes once per 8-chunk: same (ky, kx) for the chunk since C % 8 == 0
                            int kd = vec ? kk - kk % 8 : kk;
                            if (kd < k)
                            {
                                int tap = kd / c, ci = kd - tap * c + (kk - kd), ky = tap / kw, kx = tap - ky * kw;
                                int iy = iy0[row] + ky, ix = ix0[row] + kx;
                                if (iy >= 0 && iy < h && ix >= 0 && ix < wd) v = (float)(Half)x.Data[((long)pix[row] + (long)iy * wd + ix) * c + ci];
                            }
                            a[row, col] = v;
                            int oo = n0 + row;
                            bt[row, col] = oo < o && kk < kp ? WeightPacking.FromHalfBits(wp[(long)oo * kp + kk]) : 0;
                        }
                    for (int i = 0; i < 64; i++)
                        for (int j = 0; j < 64; j++)
                            for (int kk = 0; kk < 32; kk++) acc[i, j] += (double)a[i, kk] * bt[j, kk];
                }
                for (int i = 0; i < 64; i++)
                    for (int j = 0; j < 64; j++)
                        if (m0 + i < m && n0 + j < o) y[(m0 + i) * o + n0 + j] = (float)acc[i, j];
            }
        return y;
    }

    [Theory]
    [InlineData(1, 5, 7, 3, 4, 3, 1, 1, 1, 1, 1)]      // odd channels, generic gather
    [InlineData(2, 6, 6, 16, 70, 3, 2, 0, 1, 0, 1)]    // stride 2, bottom/right padding only (Downsample2D), O > 64
    [InlineData(1, 9, 4, 8, 5, 1, 1, 0, 0, 0, 0)]      // 1x1
    [InlineData(1, 10, 9, 24, 8, 3, 1, 2, 0, 1, 3)]    // asymmetric padding, M crosses a tile edge
    public void ImplicitGemmIndexMathEqualsDirectConvolution(int n, int h, int w, int c, int o, int ksz, int stride, int pt, int pb, int pl, int pr)
    {
        var r = new Random(n * 1000 + h * 100 + c);
        var x = Rand(r, n, h, w, c);
        var wt = Rand(r, o, c, ksz, ksz);
        var pad = new Pad2d(pt, pb, pl, pr);
        float[] want = DirectConv(x, wt, stride, pad, out int oh, out int ow);
        Assert.Equal((oh, ow), LaunchMath.ConvOutput(h, w, ksz, ksz, stride, pad));
        ushort[] packed = WeightPacking.PackConvWeight(wt, out _, out int kp);
        float[] got = ImplicitGemmReplay(x, packed, o, ksz, ksz, kp, stride, pad, oh, ow);
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) < 1e-3, $"element {i}: {got[i]} vs {want[i]}");
    }

    [Theory]
    [InlineData(4096, 10)] [InlineData(4096, 16)] [InlineData(77, 40)] [InlineData(1, 1)] [InlineData(65536, 4)] [InlineData(7, 3000)]
    public void GroupNormChunksCoverEveryPixelOnce(int hw, int cg)
    {
        var (per, chunks) = LaunchMath.GroupNormChunks(hw, cg);
        Assert.InRange(chunks, 1, 1024);
        Assert.True((long)per * chunks >= hw, "chunks miss pixels");
        Assert.True((long)per * (chunks - 1) < hw, "a chunk is empty");
    }

    [Theory]
    [InlineData(4)] [InlineData(8)] [InlineData(40)] [InlineData(64)] [InlineData(80)] [InlineData(160)] [InlineData(512)] [InlineData(5)]
    public void AttentionTileRowsHitDistinctBanksAndFit(int d)
    {
        int dp = LaunchMath.AttentionRowStride(d);
        Assert.True(dp >= d && dp % 2 == 0);
        var banks = new HashSet<int>();
        for (int lane = 0; lane < 32; lane++) banks.Add(lane * dp / 2 % 32);   // word index of element 0 of key row `lane`
        Assert.Equal(32, banks.Count);
        int warps = LaunchMath.AttentionWarps(d);
        Assert.True(LaunchMath.AttentionShared(warps, d) <= LaunchMath.MaxSharedBytes);
        Assert.True(warps == 8 || LaunchMath.AttentionShared(warps * 2, d) > LaunchMath.MaxSharedBytes);
    }
}
