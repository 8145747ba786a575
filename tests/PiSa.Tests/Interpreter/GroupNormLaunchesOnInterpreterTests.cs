using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// GroupNorm's launch plan on the interpreter: a group within LaunchMath.GroupNormFusedMaxElements is one gn_fused_f16
/// launch, a bigger one gn_partial_stats + gn_apply_partials, and both match the CPU float32 GroupNorm on data with a
/// mean well away from zero (the input rounded to fp16 first, so that only the kernels' own error is measured). The OpsSelfTest shape classes cover the same two paths
/// among every other op; this test pins the launch counts the profile's total depends on.
/// </summary>
public sealed class GroupNormLaunchesOnInterpreterTests
{
    private static HostTensor Rand(int seed, float scale, float shift, params int[] shape)
    {
        var r = new Random(seed);
        var t = new HostTensor(shape);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(Half)(shift + scale * (float)(r.NextDouble() * 2 - 1));
        return t;
    }

    private static double RelL2(float[] got, float[] want)
    {
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++) { double d = got[i] - want[i]; num += d * d; den += (double)want[i] * want[i]; }
        return Math.Sqrt(num / den);
    }

    [InterpreterTheory]
    [InlineData(new[] { 2, 9, 11, 24 }, 8, true, 1)]      // 297 elements per group: one launch
    [InlineData(new[] { 1, 64, 32, 32 }, 1, false, 1)]    // 65 536: the largest group of one launch
    [InlineData(new[] { 1, 65, 32, 32 }, 1, true, 2)]     // 66 560: two launches, 9 chunks, the last one shorter
    public void GroupNorm_takes_the_planned_launches_and_matches_the_cpu(int[] shape, int groups, bool silu, int launches)
    {
        int c = shape[^1];
        // mean about 8, noise of std 0.58, a ramp of 2 across the pixels and a per-channel offset, so that pixel chunks
        // and the threads of a block (which see fixed channels) have different means: on uniform noise a kernel that
        // dropped the between-part term of the combination, or used one chunk's statistics, would still pass
        var x = Rand(1, 1f, 8f, shape);
        int pixels = x.Data.Length / c;
        for (int i = 0; i < x.Data.Length; i++) x.Data[i] = (float)(Half)(x.Data[i] + 2f * (i / c) / pixels + 0.4f * (i % c % 5));
        var gamma = Rand(2, 0.5f, 1f, c);
        var beta = Rand(3, 1f, 0f, c);
        using var cpu = new CpuOps();
        using var dc = cpu.Upload(x);
        using var yc = cpu.GroupNorm(dc, gamma, beta, groups, 1e-6f, silu);
        var want = cpu.Download(yc).Data;

        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt);
        using var dx = ops.Upload(x);
        ops.Weights.Vector(gamma); ops.Weights.Vector(beta);   // uploads outside the counted launches
        long before = rt.Launches;
        using var y = ops.GroupNorm(dx, gamma, beta, groups, 1e-6f, silu);
        Assert.Equal(launches, rt.Launches - before);
        Assert.Equal(launches == 1, rt.Tallies.ContainsKey("gn_fused_f16"));
        Assert.Equal(launches == 2, rt.Tallies.ContainsKey("gn_apply_partials"));
        double e = RelL2(ops.Download(y).Data, want);
        Assert.True(e < 2e-3, $"relL2 {e:E2}");
    }
}
