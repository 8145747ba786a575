using PiSa.Engine.Backends.Cuda;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// Host replays of the numerical algorithms inside attention_f16 (per-warp online softmax over 32-key
/// tiles with exp2 and the block-level causal key limit) and gn_partial_stats + gn_finalize_stats
/// (per-chunk two-pass mean/M2, Chan combination), in float like the kernels, compared with direct
/// float64 formulas. They check the algorithm and its masking/chunk bookkeeping, not the CUDA code.
/// </summary>
public class KernelAlgorithmReplayTests
{
    private static float[] Rand(Random r, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>attention_f16 for one (b, h): q [Lq, D], k/v [Lk, D]; nw query rows per block.</summary>
    private static float[] ReplayAttention(float[] q, float[] k, float[] v, int lq, int lk, int d, bool causal, int nw)
    {
        var o = new float[lq * d];
        float qscale = 1f / MathF.Sqrt(d) * 1.4426950408889634f;
        for (int blk = 0; blk * nw < lq; blk++)
        {
            int kEnd = causal ? Math.Min(lk, (blk + 1) * nw) : lk;
            for (int w = 0; w < nw; w++)
            {
                int i = blk * nw + w;
                bool active = i < lq;
                float m = float.NegativeInfinity, l = 0;
                var acc = new float[d];
                for (int j0 = 0; j0 < kEnd; j0 += 32)
                {
                    var s = new float[32]; var p = new float[32];
                    float tmax = float.NegativeInfinity;
                    for (int lane = 0; lane < 32; lane++)
                    {
                        int j = j0 + lane;
                        s[lane] = float.NegativeInfinity;
                        if (active && j < lk && (!causal || j <= i))
                        {
                            float a = 0;
                            for (int dd = 0; dd < d; dd++) a += q[i * d + dd] * qscale * k[j * d + dd];
                            s[lane] = a;
                        }
                        tmax = MathF.Max(tmax, s[lane]);
                    }
                    float mnew = MathF.Max(m, tmax), corr = 1, psum = 0;
                    if (mnew != float.NegativeInfinity) corr = MathF.Pow(2, m - mnew);
                    for (int lane = 0; lane < 32; lane++)
                    {
                        p[lane] = mnew != float.NegativeInfinity ? MathF.Pow(2, s[lane] - mnew) : 0;
                        psum += p[lane];
                    }
                    l = l * corr + psum; m = mnew;
                    for (int dd = 0; dd < d; dd++) acc[dd] *= corr;
                    int nk = Math.Min(32, kEnd - j0);
                    for (int jj = 0; jj < nk; jj++)
                        for (int dd = 0; dd < d; dd++)
                            acc[dd] += p[jj] * (j0 + jj < lk ? v[(j0 + jj) * d + dd] : 0);
                }
                if (active)
                    for (int dd = 0; dd < d; dd++) o[i * d + dd] = l > 0 ? acc[dd] / l : 0;
            }
        }
        return o;
    }

    private static double[] DirectAttention(float[] q, float[] k, float[] v, int lq, int lk, int d, bool causal)
    {
        var o = new double[lq * d];
        for (int i = 0; i < lq; i++)
        {
            int valid = causal ? Math.Min(lk, i + 1) : lk;
            var s = new double[valid];
            double mx = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < valid; j++)
            {
                double a = 0;
                for (int dd = 0; dd < d; dd++) a += (double)q[i * d + dd] * k[j * d + dd];
                s[j] = a / Math.Sqrt(d);
                mx = Math.Max(mx, s[j]);
            }
            for (int j = 0; j < valid; j++) { s[j] = Math.Exp(s[j] - mx); sum += s[j]; }
            for (int j = 0; j < valid; j++)
                for (int dd = 0; dd < d; dd++) o[i * d + dd] += s[j] / sum * v[j * d + dd];
        }
        return o;
    }

    [Theory]
    [InlineData(10, 10, 4, false)]
    [InlineData(33, 77, 8, false)]
    [InlineData(70, 70, 16, true)]
    [InlineData(7, 5, 512, false)]
    [InlineData(65, 40, 64, true)]   // causal with Lq > Lk
    public void OnlineSoftmaxTilesEqualDirectSoftmax(int lq, int lk, int d, bool causal)
    {
        var r = new Random(lq * 31 + d);
        float[] q = Rand(r, lq * d, 3f), k = Rand(r, lk * d, 3f), v = Rand(r, lk * d);
        int nw = LaunchMath.AttentionWarps(d);
        float[] got = ReplayAttention(q, k, v, lq, lk, d, causal, nw);
        double[] want = DirectAttention(q, k, v, lq, lk, d, causal);
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(got[i] - want[i]) < 1e-4, $"element {i}: {got[i]} vs {want[i]}");
    }

    [Theory]
    [InlineData(4096, 10)] [InlineData(77, 40)] [InlineData(3, 1)] [InlineData(20000, 4)]
    public void ChunkedGroupStatsEqualDirectStats(int hw, int cg)
    {
        var r = new Random(hw + cg);
        float[] x = Rand(r, hw * cg, 2f);
        for (int i = 0; i < x.Length; i++) x[i] += 3f;   // offset mean: cancellation would show
        var (per, chunks) = LaunchMath.GroupNormChunks(hw, cg);
        float n = 0, mean = 0, m2 = 0;
        for (int c = 0; c < chunks; c++)
        {
            int p0 = c * per, p1 = Math.Min(hw, p0 + per), cnt = Math.Max(0, (p1 - p0) * cg);
            float s = 0;
            for (int i = 0; i < cnt; i++) s += x[p0 * cg + i];
            float mb = cnt > 0 ? s / cnt : 0, m2b = 0;
            for (int i = 0; i < cnt; i++) { float dlt = x[p0 * cg + i] - mb; m2b += dlt * dlt; }
            float nb = cnt;
            if (nb <= 0) continue;
            float nt = n + nb, delta = mb - mean;
            mean += delta * (nb / nt);
            m2 += m2b + delta * delta * (n * nb / nt);
            n = nt;
        }
        double dm = x.Select(v => (double)v).Average();
        double dv = x.Select(v => ((double)v - dm) * ((double)v - dm)).Average();
        Assert.Equal(hw * cg, (int)n);
        Assert.True(Math.Abs(mean - dm) < 1e-4 * Math.Max(1, Math.Abs(dm)), $"mean {mean} vs {dm}");
        Assert.True(Math.Abs(m2 / n - dv) < 1e-3 * dv, $"var {m2 / n} vs {dv}");
    }
}
