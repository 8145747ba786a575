using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// A thread-by-thread host replay of conv2d_igemm_f16 (kernels/conv.cu): the per-row window table, the
/// shared-memory tile fills of both the 16-byte (C % 8 == 0) and scalar activation paths, the packed weight
/// tile, every warp's mma.sync.m16n8k16 fragment loads, and the epilogue. The mma itself is modelled from
/// the PTX ISA fragment layout (A: row g / g+8, cols 2t+{0,1} (+8); B: rows 2t+{0,1} (+8), col g; C: row
/// g / g+8, cols 2t+{0,1}), written independently of the kernel's loads, so a fragment mix-up, a wrong
/// packing order, a padding or stride slip shows up as a mismatch with a direct NHWC convolution.
/// Inputs are fp16-representable, accumulation is float, the output is rounded to fp16 like the kernel.
/// </summary>
public class ConvKernelReplayTests
{
    private const int BM = 64, BN = 64, BK = 32, SK = BK + 8;

    private static float H(float v) => (float)(Half)v;

    private static float[] Rand(Random r, long n)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = H((float)(r.NextDouble() * 2 - 1));
        return a;
    }

    /// <summary>The kernel, replayed: x NHWC, wp = packed [O][Kp] (fp16 bits), bias fp32, residual NHWC out-shaped.</summary>
    private static float[] Replay(float[] x, ushort[] wp, float[]? bias, float[]? residual,
        int n, int h, int w, int c, int o, int oh, int ow, int kh, int kw, int stride, int padTop, int padLeft, int kp)
    {
        var y = new float[(long)n * oh * ow * o];
        Array.Fill(y, float.NaN);   // unwritten outputs must show
        int m = n * oh * ow, k = kh * kw * c;
        var grid = LaunchMath.ConvGrid(m, o);
        Assert.Equal(128, LaunchMath.ConvThreads);
        var As = new float[BM * SK];
        var Bs = new float[BN * SK];
        int[] sPix = new int[BM], sIy = new int[BM], sIx = new int[BM];
        bool vec = (c & 7) == 0;
        for (int bx = 0; bx < grid.X; bx++)
            for (int by = 0; by < grid.Y; by++)
            {
                int m0 = bx * BM, n0 = by * BN;
                for (int tid = 0; tid < BM; tid++)
                {
                    int mm = m0 + tid;
                    if (mm < m) { int ox = mm % ow, t = mm / ow, oy = t % oh, nn = t / oh; sPix[tid] = nn * h * w; sIy[tid] = oy * stride - padTop; sIx[tid] = ox * stride - padLeft; }
                    else { sPix[tid] = 0; sIy[tid] = -(1 << 29); sIx[tid] = -(1 << 29); }
                }
                var acc = new float[4, 32, 2, 4, 4];   // [warp][lane][mt][nt][e]: each lane's registers
                for (int k0 = 0; k0 < kp; k0 += BK)
                {
                    Array.Fill(As, float.NaN); Array.Fill(Bs, float.NaN);   // every slot read must have been written
                    for (int tid = 0; tid < 128; tid++)
                    {
                        if (vec)
                            for (int i = 0; i < 2; i++)
                            {
                                int cc = tid + i * 128, row = cc >> 2, kc = (cc & 3) * 8, kk = k0 + kc;
                                var v = new float[8];
                                if (kk < k)
                                {
                                    int tap = kk / c, ci = kk - tap * c, ky = tap / kw, kx = tap - ky * kw;
                                    int iy = sIy[row] + ky, ix = sIx[row] + kx;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                    {
                                        long at = ((long)sPix[row] + (long)iy * w + ix) * c + ci;
                                        Assert.True(at % 8 == 0, "16-byte activation load is not 16-byte aligned");
                                        for (int e = 0; e < 8; e++) v[e] = x[at + e];
                                    }
                                }
                                for (int e = 0; e < 8; e++) As[row * SK + kc + e] = v[e];
                            }
                        else
                        {
                            int col = tid & 31, kk = k0 + col;
                            int tap = kk / c, ci = kk - tap * c, ky = tap / kw, kx = tap - ky * kw;
                            for (int i = 0; i < 16; i++)
                            {
                                int row = (tid >> 5) + 4 * i;
                                float v = 0;
                                if (kk < k)
                                {
                                    int iy = sIy[row] + ky, ix = sIx[row] + kx;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < w) v = x[((long)sPix[row] + (long)iy * w + ix) * c + ci];
                                }
                                As[row * SK + col] = v;
                            }
                        }
                        for (int i = 0; i < 2; i++)
                        {
                            int cc = tid + i * 128, row = cc >> 2, kc = (cc & 3) * 8, kk = k0 + kc, oo = n0 + row;
                            for (int e = 0; e < 8; e++)
                                Bs[row * SK + kc + e] = oo < o && kk < kp ? WeightPacking.FromHalfBits(wp[(long)oo * kp + kk + e]) : 0f;
                        }
                    }
                    for (int warp = 0; warp < 4; warp++)
                    {
                        int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
                        for (int kk = 0; kk < BK; kk += 16)
                        {
                            // Registers as the kernel loads them: reg[lane][r] = (lo, hi) halves of one ld32.
                            var a = new (float Lo, float Hi)[2, 32, 4];
                            var b = new (float Lo, float Hi)[4, 32, 2];
                            for (int lane = 0; lane < 32; lane++)
                            {
                                int gid = lane >> 2, tig = lane & 3;
                                for (int mt = 0; mt < 2; mt++)
                                {
                                    int p = (wm + mt * 16 + gid) * SK + kk + 2 * tig;
                                    a[mt, lane, 0] = Ld32(As, p); a[mt, lane, 1] = Ld32(As, p + 8 * SK);
                                    a[mt, lane, 2] = Ld32(As, p + 8); a[mt, lane, 3] = Ld32(As, p + 8 * SK + 8);
                                }
                                for (int nt = 0; nt < 4; nt++)
                                {
                                    int p = (wn + nt * 8 + gid) * SK + kk + 2 * tig;
                                    b[nt, lane, 0] = Ld32(Bs, p); b[nt, lane, 1] = Ld32(Bs, p + 8);
                                }
                            }
                            for (int mt = 0; mt < 2; mt++)
                                for (int nt = 0; nt < 4; nt++) Mma(acc, warp, mt, nt, a, b);
                        }
                    }
                }
                for (int warp = 0; warp < 4; warp++)
                {
                    int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
                    for (int lane = 0; lane < 32; lane++)
                    {
                        int gid = lane >> 2, tig = lane & 3;
                        for (int mt = 0; mt < 2; mt++)
                            for (int half = 0; half < 2; half++)
                            {
                                int mm = m0 + wm + mt * 16 + gid + half * 8;
                                if (mm >= m) continue;
                                for (int nt = 0; nt < 4; nt++)
                                    for (int e = 0; e < 2; e++)
                                    {
                                        int oo = n0 + wn + nt * 8 + 2 * tig + e;
                                        if (oo >= o) continue;
                                        float v = acc[warp, lane, mt, nt, half * 2 + e];
                                        if (bias is not null) v += bias[oo];
                                        long idx = (long)mm * o + oo;
                                        if (residual is not null) v += residual[idx];
                                        Assert.True(float.IsNaN(y[idx]), $"output {idx} written twice");
                                        y[idx] = H(v);
                                    }
                            }
                    }
                }
            }
        return y;
    }

    private static (float Lo, float Hi) Ld32(float[] smem, int p)
    {
        Assert.True(p % 2 == 0, "32-bit shared load at an odd half offset");
        float lo = smem[p], hi = smem[p + 1];
        Assert.False(float.IsNaN(lo) || float.IsNaN(hi), $"fragment reads unwritten shared memory at {p}");
        return (lo, hi);
    }

    /// <summary>mma.sync.m16n8k16.row.col: rebuild A[16][16], B[16][8] from the 32 lanes' registers by the PTX
    /// fragment layout, multiply, and scatter into the lanes' accumulators by the C layout.</summary>
    private static void Mma(float[,,,,] acc, int warp, int mt, int nt, (float Lo, float Hi)[,,] a, (float Lo, float Hi)[,,] b)
    {
        var A = new float[16, 16];
        var B = new float[16, 8];
        for (int lane = 0; lane < 32; lane++)
        {
            int g = lane >> 2, t = lane & 3;
            for (int r = 0; r < 4; r++)
            {
                int row = g + (r & 1) * 8, col = 2 * t + (r >> 1) * 8;   // a0: (g, 2t) a1: (g+8, 2t) a2: (g, 2t+8) a3: (g+8, 2t+8)
                A[row, col] = a[mt, lane, r].Lo; A[row, col + 1] = a[mt, lane, r].Hi;
            }
            for (int r = 0; r < 2; r++)
            {
                int krow = 2 * t + r * 8;                                 // b0: k 2t, 2t+1   b1: k 2t+8, 2t+9; n = g
                B[krow, g] = b[nt, lane, r].Lo; B[krow + 1, g] = b[nt, lane, r].Hi;
            }
        }
        for (int lane = 0; lane < 32; lane++)
        {
            int g = lane >> 2, t = lane & 3;
            for (int e = 0; e < 4; e++)
            {
                int row = g + (e >> 1) * 8, col = 2 * t + (e & 1);        // c0,c1: row g; c2,c3: row g+8
                float s = 0;
                for (int kk = 0; kk < 16; kk++) s += A[row, kk] * B[kk, col];
                acc[warp, lane, mt, nt, e] += s;
            }
        }
    }

    private static double[] Direct(float[] x, HostTensor wt, float[]? bias, float[]? residual,
        int n, int h, int w, int c, int o, int oh, int ow, int kh, int kw, int stride, Pad2d pad)
    {
        var y = new double[(long)n * oh * ow * o];
        for (int nn = 0; nn < n; nn++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int oo = 0; oo < o; oo++)
                    {
                        double s = bias?[oo] ?? 0;
                        for (int ci = 0; ci < c; ci++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int iy = oy * stride - pad.Top + ky, ix = ox * stride - pad.Left + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    s += (double)x[(((long)nn * h + iy) * w + ix) * c + ci] * H(wt.Data[((oo * c + ci) * kh + ky) * kw + kx]);
                                }
                        long idx = (((long)nn * oh + oy) * ow + ox) * o + oo;
                        if (residual is not null) s += residual[idx];
                        y[idx] = s;
                    }
        return y;
    }

    [Theory]
    [InlineData(2, 9, 9, 8, 70, 3, 1, 1, 1, 1, 1, true, true)]     // 3x3 same, vector path, 3 pixel tiles x 2 channel tiles, Kp = 72
    [InlineData(1, 9, 8, 16, 20, 3, 2, 0, 1, 0, 1, true, false)]   // SD downsample: stride 2, pad (0,1,0,1)
    [InlineData(1, 7, 6, 3, 9, 3, 1, 1, 1, 1, 1, true, false)]     // scalar path (C = 3), K = 27, Kp = 32
    [InlineData(2, 5, 5, 4, 66, 3, 1, 1, 1, 1, 1, false, true)]    // scalar path (C = 4, VAE latent), residual
    [InlineData(1, 6, 5, 40, 8, 1, 1, 0, 0, 0, 0, true, true)]     // 1x1 with K = 40 (two k tiles, second partial)
    [InlineData(1, 4, 5, 12, 7, 2, 2, 0, 0, 0, 0, false, false)]   // 2x2 stride 2, C = 12 (scalar), odd O
    public void ReplayEqualsDirectConvolution(int n, int h, int w, int c, int o, int k, int stride, int pt, int pb, int pl, int pr,
        bool withBias, bool withResidual)
    {
        var r = new Random(n * 1000 + h * 100 + c * 10 + o);
        var pad = new Pad2d(pt, pb, pl, pr);
        float[] x = Rand(r, (long)n * h * w * c);
        var wt = new HostTensor([o, c, k, k], Rand(r, (long)o * c * k * k));
        float[]? bias = withBias ? Rand(r, o) : null;
        var (oh, ow) = LaunchMath.ConvOutput(h, w, k, k, stride, pad);
        float[]? res = withResidual ? Rand(r, (long)n * oh * ow * o) : null;
        ushort[] wp = WeightPacking.PackConvWeight(wt, out int kk, out int kp);
        Assert.Equal(k * k * c, kk);

        float[] got = Replay(x, wp, bias, res, n, h, w, c, o, oh, ow, k, k, stride, pad.Top, pad.Left, kp);
        double[] want = Direct(x, wt, bias, res, n, h, w, c, o, oh, ow, k, k, stride, pad);
        for (long i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(got[i] - want[i]) <= 2e-3 * Math.Max(1, Math.Abs(want[i])), $"y[{i}] = {got[i]}, want {want[i]}");
    }

    [Fact]
    public void ReplayOfTheLinearFallbackEqualsMatmul()
    {
        // CudaOps.Linear without cuBLASLt: a 1x1 convolution over a 1 x rows image (N=1, H=1, W=rows).
        var r = new Random(7);
        int rows = 70, inF = 20, outF = 9;   // inF % 8 != 0: this is the shape that takes the fallback
        float[] x = Rand(r, rows * inF);
        var wt = new HostTensor([outF, inF], Rand(r, outF * inF));
        float[] bias = Rand(r, outF);
        ushort[] wp = WeightPacking.PackConvWeight(wt, out _, out int kp);
        float[] got = Replay(x, wp, bias, null, 1, 1, rows, inF, outF, 1, rows, 1, 1, 1, 0, 0, kp);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < outF; j++)
            {
                double s = bias[j];
                for (int q = 0; q < inF; q++) s += (double)x[i * inF + q] * H(wt.Data[j * inF + q]);
                Assert.True(Math.Abs(got[i * outF + j] - s) <= 2e-3 * Math.Max(1, Math.Abs(s)), $"y[{i},{j}] = {got[i * outF + j]}, want {s}");
            }
    }
}
