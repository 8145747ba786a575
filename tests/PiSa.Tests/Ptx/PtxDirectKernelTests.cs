using PiSa.Engine.Backends.Cuda;
using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>Real kernels of kernels/*.cu launched directly, against trivially correct expectations.</summary>
public class PtxDirectKernelTests
{
    [PtxFact]
    public void F16ToF32ConvertsEveryElementOfAGridStrideLoop()
    {
        var k = PtxCompile.Kernel("elementwise.cu", KernelSources.Get("elementwise.cu"), "f16_to_f32");
        var dev = new PtxTestDevice();
        var rng = new Random(1);
        int n = 1000;
        var x = Enumerable.Range(0, n).Select(_ => (Half)(rng.NextSingle() * 8 - 4)).ToArray();
        ulong px = dev.Upload(x, "x"), py = dev.Output<float>(n, "y");
        var stats = dev.Launch(k, new PtxDim3(3), new PtxDim3(128), px, py, n);
        var y = dev.Download<float>(py, n);
        for (int i = 0; i < n; i++) Assert.Equal((float)x[i], y[i]);
        Assert.True(stats.TotalInstructions > n * 5, stats.ToString());
        Assert.True(stats.GlobalRequests > 0 && stats.GlobalSectors > 0, stats.ToString());
    }

    [PtxTheory]
    [InlineData(8)]   // 16-byte vector gather path
    [InlineData(3)]   // scalar path (C % 8 != 0)
    public void ConvMatchesAHostConvolution(int C)
    {
        int O = 10, H = 4, W = 4, K = 9 * C, Kp = (K + 7) / 8 * 8;
        var k = PtxCompile.Kernel("conv.cu", KernelSources.Get("conv.cu"), "conv2d_igemm_f16");
        var (dev, args, py) = PtxCheckTests.ConvSetup(C, O);
        var stats = dev.Launch(k, new PtxDim3(1, 1), new PtxDim3(128), args);
        var x = dev.Download<Half>((ulong)args[0], H * W * C);
        var w = dev.Download<Half>((ulong)args[1], O * Kp);
        var bias = dev.Download<float>((ulong)args[2], O);
        var y = dev.Download<Half>(py, H * W * O);
        for (int oy = 0; oy < H; oy++)
            for (int ox = 0; ox < W; ox++)
                for (int o = 0; o < O; o++)
                {
                    double s = bias[o];
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int iy = oy + ky - 1, ix = ox + kx - 1;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            for (int ci = 0; ci < C; ci++)
                                s += (double)(float)x[(iy * W + ix) * C + ci] * (float)w[o * Kp + (ky * 3 + kx) * C + ci];
                        }
                    float got = (float)y[(oy * W + ox) * O + o];
                    Assert.True(Math.Abs(got - s) <= 2e-3 * Math.Max(1, Math.Abs(s)), $"y[{oy},{ox},{o}] = {got}, host {s}");
                }
        Assert.True(stats.MmaCount > 0 && stats.SharedRequests > 0, stats.ToString());
    }

    [PtxFact]
    public void GroupNormPartialStatsMatchTheHostAndAreTheSameUnderEverySeed()
    {
        int HW = 10, C = 8, G = 2, per = 4, chunks = 3;
        var k = PtxCompile.Kernel("norm.cu", KernelSources.Get("norm.cu"), "gn_partial_stats");
        var rng = new Random(4);
        var x = Enumerable.Range(0, HW * C).Select(_ => (Half)(rng.NextSingle() * 3 - 1)).ToArray();
        float[]? first = null;
        PtxLaunchStats? firstStats = null;
        foreach (int seed in new[] { 0, 1, 2, 0 })
        {
            var dev = new PtxTestDevice();
            ulong px = dev.Upload(x, "x"), pp = dev.Output<float>(G * chunks * 3, "partial");
            var st = dev.Launch(k, new PtxDim3(chunks, G), new PtxDim3(256), 0, new PtxLaunchOptions { Seed = seed }, px, pp, HW, C, G, per);
            var p = dev.Download<float>(pp, G * chunks * 3);
            if (first == null) { first = p; firstStats = st; }
            else
            {
                Assert.Equal(first, p);   // race-free, so bit-identical under any schedule
                Assert.Equal(firstStats!.TotalInstructions, st.TotalInstructions);
            }
        }
        for (int g = 0; g < G; g++)
            for (int c = 0; c < chunks; c++)
            {
                var vals = new List<double>();
                for (int px = c * per; px < Math.Min(HW, (c + 1) * per); px++)
                    for (int ch = g * (C / G); ch < (g + 1) * (C / G); ch++) vals.Add((float)x[px * C + ch]);
                double mean = vals.Average(), m2 = vals.Sum(v => (v - mean) * (v - mean));
                int o = (g * chunks + c) * 3;
                Assert.Equal(vals.Count, first![o]);
                Assert.Equal(mean, first[o + 1], 5);
                Assert.Equal(m2, first[o + 2], 4);
            }
    }

    [PtxFact]
    public void CountersSeeCoalescedAndStridedAccessesDifferently()
    {
        const string src = """
            extern "C" __global__ void copy_stride(const float* x, float* y, int stride) {
                int i = threadIdx.x;
                y[i] = x[i * stride];
            }
            extern "C" __global__ void smem_stride(float* y, int stride) {
                __shared__ float s[32 * 33];
                int i = threadIdx.x;
                s[i * stride] = i;
                __syncwarp();
                y[i] = s[i * stride];
            }
            """;
        var dev = new PtxTestDevice();
        ulong x = dev.Upload(new float[32 * 32], "x"), y = dev.Output<float>(32, "y");
        var k = PtxCompile.Kernel("counters_test.cu", src, "copy_stride");
        var coalesced = dev.Launch(k, new PtxDim3(1), new PtxDim3(32), x, y, 1);
        var strided = dev.Launch(k, new PtxDim3(1), new PtxDim3(32), x, y, 32);
        // one warp, one load and one store each: 2 requests; 4 + 4 sectors coalesced, 32 + 4 strided
        Assert.Equal(2, coalesced.GlobalRequests);
        Assert.Equal(8, coalesced.GlobalSectors);
        Assert.Equal(36, strided.GlobalSectors);
        Assert.Equal(128 + 128, coalesced.GlobalBytesRead + coalesced.GlobalBytesWritten);
        var s = PtxCompile.Kernel("counters_test.cu", src, "smem_stride");
        var noConflict = dev.Launch(s, new PtxDim3(1), new PtxDim3(32), y, 1);
        var conflict = dev.Launch(s, new PtxDim3(1), new PtxDim3(32), y, 32);
        var padded = dev.Launch(s, new PtxDim3(1), new PtxDim3(32), y, 33);
        Assert.Equal(2, noConflict.SharedRequests);
        Assert.Equal(2, noConflict.SharedWavefronts);
        Assert.Equal(64, conflict.SharedWavefronts);        // stride 32 words: all 32 lanes in one bank
        Assert.Equal(2, padded.SharedWavefronts);           // stride 33: conflict-free
        Assert.Contains("wavefronts", conflict.ToString());
        var sum = new PtxLaunchStats();
        sum.Add(noConflict);
        sum.Add(conflict);
        Assert.Equal(2, sum.Launches);
        Assert.Equal(66, sum.SharedWavefronts);
    }

    /// <summary>Both versions: the SIMT reference and the tensor-core one (Lq = 70 and Lk = 77 span two of its
    /// 64-row query blocks and two 64-key tiles; the causal case has queries past its first key tile).</summary>
    [PtxTheory]
    [InlineData("attention_f16", 40, false)]
    [InlineData("attention_f16", 40, true)]
    [InlineData("attention_f16", 64, false)]
    [InlineData("attention_mma_f16", 40, false)]
    [InlineData("attention_mma_f16", 40, true)]
    [InlineData("attention_mma_f16", 64, false)]
    [InlineData("attention_mma_f16", 64, true)]
    [InlineData("attention_mma_f16", 8, false)]
    [InlineData("attention_flash_f16_k3", 40, false)]
    [InlineData("attention_flash_f16_k3", 40, true)]
    [InlineData("attention_flash_f16_k4", 64, true)]
    [InlineData("attention_flash_f16_k1", 8, false)]
    public void AttentionMatchesAHostSoftmaxAttention(string kernel, int D, bool causal)
    {
        bool mma = kernel != "attention_f16";   // both tensor-core versions: 64 query rows per block of 128 threads
        int B = 1, Lq = mma ? 70 : 5, Lk = causal ? Lq : mma ? 77 : 37, H = 2, HD = H * D;
        string file = kernel.StartsWith("attention_flash", StringComparison.Ordinal) ? "attention_flash.cu" : "attention.cu";
        var k = PtxCompile.Kernel(file, KernelSources.Get(file), kernel);
        var rng = new Random(D + (causal ? 1 : 0));
        Half[] R(int n) => Enumerable.Range(0, n).Select(_ => (Half)(rng.NextSingle() * 2 - 1)).ToArray();
        var q = R(B * Lq * HD);
        var kk = R(B * Lk * HD);
        var v = R(B * Lk * HD);
        var dev = new PtxTestDevice();
        ulong pq = dev.Upload(q, "q"), pk = dev.Upload(kk, "k"), pv = dev.Upload(v, "v"), po = dev.Output<Half>(B * Lq * HD, "out");
        int rows = mma ? LaunchMath.AttentionMmaRows : LaunchMath.AttentionWarps(D);
        float scale = 1f / MathF.Sqrt(D);
        dev.Launch(k, new PtxDim3((Lq + rows - 1) / rows, H, B), new PtxDim3(mma ? 128 : 32 * rows), mma ? 0 : LaunchMath.AttentionShared(rows, D),
            new PtxLaunchOptions(), pq, pk, pv, po, Lq, Lk, H, D, HD, HD, HD, scale, causal ? 1 : 0);
        var o = dev.Download<Half>(po, B * Lq * HD);
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Lq; i++)
            {
                int n = causal ? i + 1 : Lk;
                var s = new double[n];
                for (int j = 0; j < n; j++)
                    for (int d = 0; d < D; d++) s[j] += (double)(float)q[i * HD + h * D + d] * (float)kk[j * HD + h * D + d] * scale;
                double mx = s.Max(), sum = s.Sum(x => Math.Exp(x - mx));
                for (int d = 0; d < D; d++)
                {
                    double want = 0;
                    for (int j = 0; j < n; j++) want += Math.Exp(s[j] - mx) / sum * (float)v[j * HD + h * D + d];
                    float got = (float)o[i * HD + h * D + d];
                    Assert.True(Math.Abs(got - want) <= 2e-3, $"out[{i}, h{h}, {d}] = {got}, host {want}");
                }
            }
    }
}
