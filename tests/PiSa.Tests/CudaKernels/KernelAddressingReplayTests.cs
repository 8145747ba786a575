using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// Host replays of the ADDRESSING of the attention, group-norm and flat kernels, as CudaOps launches them:
/// whole [B, L, H*D] / NHWC tensors, the launch geometry from CudaKernels/LaunchMath, the kernels' pointer
/// and index arithmetic copied statement by statement (head offsets, row strides, the padded K/V smem rows,
/// per-(n, group) chunk bases, flat-index decompositions), compared with the float32 CPU backend.
/// KernelAlgorithmReplayTests checks the numerics of one (batch, head); this checks where the data comes from.
/// </summary>
public class KernelAddressingReplayTests
{
    private static HostTensor Rand(int seed, params int[] shape)
    {
        var r = new Random(seed);
        var t = new HostTensor(shape);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(r.NextDouble() * 2 - 1);
        return t;
    }

    private static void Close(HostTensor want, float[] got, double tol, string what)
    {
        Assert.Equal(want.Data.Length, got.Length);
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - want.Data[i]) <= tol * Math.Max(1, Math.Abs(want.Data[i])), $"{what}[{i}] = {got[i]}, want {want.Data[i]}");
    }

    /// <summary>attention_f16 over the whole grid (ceil(Lq/nw), H, B) with blockDim 32*nw.</summary>
    private static float[] ReplayAttention(float[] q, float[] k, float[] v, int B, int Lq, int Lk, int H, int D, bool causal)
    {
        int nw = LaunchMath.AttentionWarps(D);
        int DP = LaunchMath.AttentionRowStride(D);
        Assert.True(LaunchMath.AttentionShared(nw, D) >= (nw * D * 4) + 32 * DP * 2);
        float scale = 1.0f / MathF.Sqrt(D);
        var outp = new float[q.Length];
        Array.Fill(outp, float.NaN);
        int HD = H * D;
        for (int bz = 0; bz < B; bz++)
            for (int hy = 0; hy < H; hy++)
                for (int bx = 0; bx < (Lq + nw - 1) / nw; bx++)
                {
                    var qs = new float[nw * D];
                    var kv = new float[32 * DP];
                    int kEnd = causal ? Math.Min(Lk, (bx + 1) * nw) : Lk;
                    var m = new float[nw]; var l = new float[nw]; var acc = new float[nw, 32, 16];
                    for (int warp = 0; warp < nw; warp++)
                    {
                        m[warp] = float.NegativeInfinity;
                        int i = bx * nw + warp;
                        bool active = i < Lq;
                        long qrow = ((long)bz * Lq + i) * HD + hy * D;
                        for (int d = 0; d < D; d++) qs[warp * D + d] = active ? q[qrow + d] * scale : 0f;
                    }
                    long kb = (long)bz * Lk * HD + hy * D;
                    for (int j0 = 0; j0 < kEnd; j0 += 32)
                    {
                        for (int e = 0; e < 32 * D; e++) { int j = e / D, d = e - j * D; kv[j * DP + d] = j0 + j < Lk ? k[kb + (long)(j0 + j) * HD + d] : 0f; }
                        var p = new float[nw, 32]; var corr = new float[nw];
                        for (int warp = 0; warp < nw; warp++)
                        {
                            int i = bx * nw + warp;
                            bool active = i < Lq;
                            var s = new float[32];
                            float tmax = float.NegativeInfinity;
                            for (int lane = 0; lane < 32; lane++)
                            {
                                int j = j0 + lane;
                                s[lane] = float.NegativeInfinity;
                                if (active && j < Lk && (!causal || j <= i))
                                {
                                    float a = 0;
                                    for (int d = 0; d < D; d++) a += qs[warp * D + d] * kv[lane * DP + d];
                                    s[lane] = a;
                                }
                                tmax = MathF.Max(tmax, s[lane]);
                            }
                            float mnew = MathF.Max(m[warp], tmax), psum = 0;
                            corr[warp] = 1;
                            if (mnew != float.NegativeInfinity) corr[warp] = MathF.Exp(m[warp] - mnew);
                            for (int lane = 0; lane < 32; lane++)
                            {
                                p[warp, lane] = mnew != float.NegativeInfinity ? MathF.Exp(s[lane] - mnew) : 0;
                                psum += p[warp, lane];
                            }
                            l[warp] = l[warp] * corr[warp] + psum;
                            m[warp] = mnew;
                        }
                        for (int e = 0; e < 32 * D; e++) { int jj = e / D, d = e - jj * D; kv[jj * DP + d] = j0 + jj < Lk ? v[kb + (long)(j0 + jj) * HD + d] : 0f; }
                        int nk = Math.Min(32, kEnd - j0);
                        for (int warp = 0; warp < nw; warp++)
                            for (int lane = 0; lane < 32; lane++)
                            {
                                for (int t = 0; t < 16; t++) acc[warp, lane, t] *= corr[warp];
                                for (int jj = 0; jj < nk; jj++)
                                    for (int t = 0; t < 16 && 32 * t < D; t++)
                                        if (lane + 32 * t < D) acc[warp, lane, t] += p[warp, jj] * kv[jj * DP + lane + 32 * t];
                            }
                    }
                    for (int warp = 0; warp < nw; warp++)
                    {
                        int i = bx * nw + warp;
                        if (i >= Lq) continue;
                        float inv = l[warp] > 0 ? 1 / l[warp] : 0;
                        long orow = ((long)bz * Lq + i) * HD + hy * D;
                        for (int lane = 0; lane < 32; lane++)
                            for (int t = 0; t < 16 && 32 * t < D; t++)
                                if (lane + 32 * t < D)
                                {
                                    Assert.True(float.IsNaN(outp[orow + lane + 32 * t]), "output written twice");
                                    outp[orow + lane + 32 * t] = acc[warp, lane, t] * inv;
                                }
                    }
                }
        return outp;
    }

    [Theory]
    [InlineData(2, 19, 19, 3, 8, false)]
    [InlineData(2, 19, 19, 3, 8, true)]     // CLIP-style causal self-attention, several heads and batches
    [InlineData(1, 40, 9, 5, 16, false)]    // cross-attention, Lq > 32 and Lk < 32
    [InlineData(2, 6, 37, 2, 40, false)]    // D not a multiple of 32, Lk over one key tile
    [InlineData(1, 3, 5, 1, 512, false)]    // VAE mid-block head dim
    public void AttentionAddressingMatchesCpu(int b, int lq, int lk, int h, int d, bool causal)
    {
        var q = Rand(1, b, lq, h * d);
        var k = Rand(2, b, lk, h * d);
        var v = Rand(3, b, lk, h * d);
        using var cpu = new CpuOps();
        using var dq = cpu.Upload(q); using var dk = cpu.Upload(k); using var dv = cpu.Upload(v);
        using var y = cpu.Attention(dq, dk, dv, h, causal);
        Close(cpu.Download(y), ReplayAttention(q.Data, k.Data, v.Data, b, lq, lk, h, d, causal), 1e-4, "attention");
    }

    /// <summary>gn_partial_stats + gn_finalize_stats + gn_apply with the geometry CudaOps uses.</summary>
    private static float[] ReplayGroupNorm(float[] x, float[] gamma, float[] beta, int N, int HW, int C, int G, float eps, bool silu)
    {
        var (per, chunks) = LaunchMath.GroupNormChunks(HW, C / G);
        var partial = new float[N * G * chunks * 3];
        for (int ng = 0; ng < N * G; ng++)
            for (int chunk = 0; chunk < chunks; chunk++)
            {
                int n = ng / G, g = ng - n * G, Cg = C / G;
                int p0 = chunk * per, p1 = Math.Min(HW, p0 + per);
                int cnt = p1 > p0 ? (p1 - p0) * Cg : 0;
                long bas = ((long)n * HW + p0) * C + g * Cg;
                float s = 0;
                for (int i = 0; i < cnt; i++) { int p = i / Cg, c = i - p * Cg; s += x[bas + (long)p * C + c]; }
                float mean = cnt > 0 ? s / cnt : 0;
                float m2 = 0;
                for (int i = 0; i < cnt; i++) { int p = i / Cg, c = i - p * Cg; float dd = x[bas + (long)p * C + c] - mean; m2 += dd * dd; }
                long o = ((long)ng * chunks + chunk) * 3;
                partial[o] = cnt; partial[o + 1] = cnt > 0 ? mean : 0; partial[o + 2] = m2;
            }
        var meanVar = new float[N * G * 2];
        for (int ng = 0; ng < N * G; ng++)
        {
            float n = 0, mean = 0, m2 = 0;
            for (int kk = 0; kk < chunks; kk++)
            {
                long o = ((long)ng * chunks + kk) * 3;
                float nb = partial[o], mb = partial[o + 1], m2b = partial[o + 2];
                if (nb <= 0) continue;
                float nt = n + nb, dd = mb - mean;
                mean += dd * (nb / nt);
                m2 += m2b + dd * dd * (n * nb / nt);
                n = nt;
            }
            meanVar[2 * ng] = mean; meanVar[2 * ng + 1] = n > 0 ? m2 / n : 0;
        }
        var y = new float[x.Length];
        int HWC = HW * C, Cgp = C / G;
        for (int i = 0; i < x.Length; i++)
        {
            int n = i / HWC, c = i % C, ng = n * G + c / Cgp;
            float val = (x[i] - meanVar[2 * ng]) / MathF.Sqrt(meanVar[2 * ng + 1] + eps) * gamma[c] + beta[c];
            if (silu) val = val / (1 + MathF.Exp(-val));
            y[i] = val;
        }
        return y;
    }

    [Theory]
    [InlineData(new[] { 2, 5, 7, 12 }, 4, true)]
    [InlineData(new[] { 1, 130, 70, 32 }, 8, false)]   // several pixel chunks per (n, group)
    [InlineData(new[] { 3, 11, 24 }, 6, false)]        // [B, L, C]
    public void GroupNormAddressingMatchesCpu(int[] shape, int groups, bool silu)
    {
        int c = shape[^1], n = shape[0];
        var x = Rand(4, shape);
        for (int i = 0; i < x.Data.Length; i++) x.Data[i] = x.Data[i] * 2 + 3 * ((i % c) % 3);   // per-channel offsets
        var gamma = Rand(5, c); var beta = Rand(6, c);
        using var cpu = new CpuOps();
        using var dx = cpu.Upload(x);
        using var y = cpu.GroupNorm(dx, gamma, beta, groups, 1e-5f, silu);
        int hw = (int)(x.Count / ((long)n * c));
        Close(cpu.Download(y), ReplayGroupNorm(x.Data, gamma.Data, beta.Data, n, hw, c, groups, 1e-5f, silu), 2e-4, "group norm");
    }

    [Fact]
    public void FlatKernelIndexMathMatchesCpu()
    {
        using var cpu = new CpuOps();
        var x = Rand(7, 2, 5, 7, 6);
        using var dx = cpu.Upload(x);
        float[] xs = x.Data;
        const int N = 2, H = 5, W = 7, C = 6;

        // upsample_nearest_f16 (2x)
        int OH = 2 * H, OW = 2 * W;
        var up = new float[N * OH * OW * C];
        for (int i = 0; i < up.Length; i++)
        {
            int c = i % C; int p = i / C; int ox = p % OW; p /= OW; int oy = p % OH; int b = p / OH;
            int iy = (int)((long)oy * H / OH), ix = (int)((long)ox * W / OW);
            up[i] = xs[(((long)b * H + iy) * W + ix) * C + c];
        }
        using (var y = cpu.UpsampleNearest2x(dx)) Close(cpu.Download(y), up, 0, "upsample");

        // crop_spatial_f16 rows [1, 4), columns [2, 7)
        int y0 = 1, x0 = 2, ch = 3, cw = 5;
        var crop = new float[N * ch * cw * C];
        for (int i = 0; i < crop.Length; i++)
        {
            int c = i % C; int p = i / C; int ox = p % cw; p /= cw; int oy = p % ch; int b = p / ch;
            crop[i] = xs[(((long)b * H + y0 + oy) * W + x0 + ox) * C + c];
        }
        using (var y = cpu.CropSpatial(dx, 1, 4, 2, 7)) Close(cpu.Download(y), crop, 0, "crop");

        // concat_channels_f16 / slice_channels_f16 / geglu_f16 on [rows, C]
        var b2 = Rand(8, 2, 5, 7, 4);
        using var db = cpu.Upload(b2);
        int rows = N * H * W, Ca = C, Cb = 4;
        var cat = new float[rows * (Ca + Cb)];
        for (int i = 0; i < cat.Length; i++) { int r = i / (Ca + Cb), c = i - r * (Ca + Cb); cat[i] = c < Ca ? xs[(long)r * Ca + c] : b2.Data[(long)r * Cb + (c - Ca)]; }
        using (var y = cpu.ConcatChannels(dx, db)) Close(cpu.Download(y), cat, 0, "concat");
        var sl = new float[rows * 3];
        for (int i = 0; i < sl.Length; i++) { int r = i / 3, c = i - r * 3; sl[i] = xs[(long)r * C + 2 + c]; }
        using (var y = cpu.SliceChannels(dx, 2, 3)) Close(cpu.Download(y), sl, 0, "slice");
        int F = C / 2;
        var gg = new float[rows * F];
        for (int i = 0; i < gg.Length; i++)
        {
            int r = i / F, f = i - r * F;
            float g = xs[(long)r * 2 * F + F + f];
            gg[i] = xs[(long)r * 2 * F + f] * (float)(0.5 * g * (1 + Erf(g / Math.Sqrt(2))));
        }
        using (var y = cpu.Geglu(dx)) Close(cpu.Download(y), gg, 1e-5, "geglu");

        // add_channel_vector_f16 with a [N, C] and a [1, C] vector
        foreach (int vb in new[] { N, 1 })
        {
            var vec = Rand(9 + vb, vb, C);
            using var dv = cpu.Upload(vec);
            int innerC = H * W * C, stride = vb == 1 ? 0 : C;
            var add = new float[xs.Length];
            for (int i = 0; i < add.Length; i++) { int bb = i / innerC, c = i % C; add[i] = xs[i] + vec.Data[bb * stride + c]; }
            using var y = cpu.AddChannelVector(dx, dv);
            Close(cpu.Download(y), add, 1e-6, $"add channel vector [{vb}, C]");
        }
    }

    private static double Erf(double x)
    {
        // Abramowitz-Stegun 7.1.26 is too coarse for 1e-5: integrate the series instead (|x| small here).
        double sum = 0, term = x;
        for (int n = 0; n < 60; n++) { sum += term / (2 * n + 1); term *= -x * x / (n + 1); }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }
}
