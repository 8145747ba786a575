using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// conv_pipe.cu on the PTX interpreter, every block tile and split-K forced through <see cref="CudaOps.ConvPlanner"/>
/// (the heuristic would pick 64x64 without splits for shapes this small), against the float32 CPU reference on
/// OpsSelfTest's conv and fallback-linear cases (C = 3, 4, 8, 16, 24, 40, 64; stride 1 and 2; 1x1, 2x2 and 3x3;
/// asymmetric padding; M, O and K tails; bias and residual), plus the fused SiLU, which IOps does not expose.
/// The interpreter's race and uninitialised-shared checks run on every launch.
/// </summary>
public sealed class ConvPipeOnInterpreterTests(ITestOutputHelper output)
{
    public static TheoryData<string> Plans() =>
        new() { "T64x64", "T128x64", "T128x128", "T64x64 split 3", "T128x128 split 2",
                "T64x64Wgmma", "T128x64Wgmma", "T128x128Wgmma", "T64x64Wgmma split 3", "T128x128Wgmma split 2" };

    internal static ConvPlan ParsePlan(string s)
    {
        var parts = s.Split(' ');
        return new ConvPlan(Enum.Parse<ConvTile>(parts[0]), parts.Length == 3 ? int.Parse(parts[2]) : 1);
    }

    [InterpreterTheory]
    [MemberData(nameof(Plans))]
    public void Every_conv_case_matches_the_cpu_reference(string plan)
    {
        var p = ParsePlan(plan);
        var rt = new PtxGpuRuntime(hasLinear: false);   // the linear cases then run on the conv kernels too
        using var cpu = new CpuOps();
        using var ops = new CudaOps(rt) { ConvPlanner = (_, _, _) => p };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var results = OpsSelfTest.Run(cpu, ops, includeLarge: false, only: o => o is "Conv2d" or "Linear");
        output.WriteLine(OpsSelfTest.Format(results));
        output.WriteLine($"{plan}: {rt.Launches} launches, {rt.TotalInstructions:N0} thread-instructions, {sw.Elapsed.TotalSeconds:F1} s");
        Assert.True(results.Count(r => r.Op == "Conv2d") >= 12, "the conv case list shrank");
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        Assert.True(rt.Tallies.ContainsKey(LaunchMath.ConvKernelName(p.Tile)), $"{plan} did not run {LaunchMath.ConvKernelName(p.Tile)}");
        Assert.False(rt.Tallies.ContainsKey("conv2d_igemm_f16"), "the reference kernel ran");
        Assert.Equal(p.Splits > 1, rt.Tallies.ContainsKey("conv_splitk_reduce_f16"));
    }

    [InterpreterTheory]
    [InlineData("T64x64")]
    [InlineData("T128x128 split 2")]
    [InlineData("T128x128Wgmma")]
    [InlineData("T64x64Wgmma split 2")]
    [InlineData("Reference")]
    public void The_fused_silu_matches_conv_then_silu_on_the_cpu(string plan)
    {
        var rng = new Random(5);
        HostTensor R(params int[] shape)
        {
            var t = new HostTensor(shape);
            for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() * 4 - 2);
            return t;
        }
        var x = R(1, 7, 9, 40);
        var w = R(72, 40, 3, 3);
        for (int i = 0; i < w.Data.Length; i++) w.Data[i] *= 0.05f;
        var b = R(72);
        var res = R(1, 7, 9, 72);
        using var cpu = new CpuOps();
        using var ops = new CudaOps(new PtxGpuRuntime()) { ConvPlanner = (_, _, _) => ParsePlan(plan) };
        HostTensor want;
        {
            using var dx = cpu.Upload(x); using var dr = cpu.Upload(res);
            using var c = cpu.Conv2d(dx, w, b, 1, Pad2d.Same(1));
            using var s = cpu.Silu(c);
            using var y = cpu.Axpby(s, dr, 1f, 1f);
            want = cpu.Download(y);
        }
        using var gx = ops.Upload(x); using var gr = ops.Upload(res);
        using var gy = ops.Conv2d(gx, w, b, 1, Pad2d.Same(1), gr, silu: true);
        var got = ops.Download(gy);
        double num = 0, den = 0;
        for (int i = 0; i < want.Data.Length; i++) { double d = got.Data[i] - want.Data[i]; num += d * d; den += (double)want.Data[i] * want.Data[i]; }
        double rel = Math.Sqrt(num / den);
        output.WriteLine($"{plan}: relL2 {rel:E2}");
        Assert.True(rel < OpsSelfTest.ComputeTolerance, $"fused SiLU relL2 {rel:E2}");
        // The SiLU is really applied: without it the same output is far off.
        using var plain = ops.Conv2d(gx, w, b, 1, Pad2d.Same(1), gr, silu: false);
        var p = ops.Download(plain);
        double num2 = 0;
        for (int i = 0; i < want.Data.Length; i++) { double d = p.Data[i] - want.Data[i]; num2 += d * d; }
        Assert.True(Math.Sqrt(num2 / den) > 0.1, "the check cannot tell SiLU from none");
    }
    /// <summary>
    /// Interpreter counters of every version on the same shapes (the figures bench/RESULTS.md quotes), and the one
    /// exact fact they must show: each version issues exactly blocks x k-tiles x (its warps' m16n8k16 per k-tile)
    /// mma.sync, so no tile, k-step or split is dropped or repeated.
    /// </summary>
    [InterpreterFact]
    public void Counters_of_each_version_on_the_same_shape()
    {
        var plans = new[] { new ConvPlan(ConvTile.Reference), new ConvPlan(ConvTile.T64x64), new ConvPlan(ConvTile.T128x64),
                            new ConvPlan(ConvTile.T128x128), new ConvPlan(ConvTile.T64x64, 3),
                            new ConvPlan(ConvTile.T64x64Wgmma), new ConvPlan(ConvTile.T128x64Wgmma), new ConvPlan(ConvTile.T128x128Wgmma) };
        output.WriteLine("shape | version | thread-instr | int/fp32/cvt/mem/ctl/coll | mma (wgmma) | global req / sectors (per req) | shared req / wavefronts (per req) | MB read / written");
        foreach (var (x, o) in new[] { (new[] { 1, 16, 16, 64 }, 64), (new[] { 1, 16, 16, 128 }, 128) })
        {
            var rng = new Random(3);
            var xh = new HostTensor(x);
            for (int i = 0; i < xh.Data.Length; i++) xh.Data[i] = (float)(rng.NextDouble() * 2 - 1);
            var w = new HostTensor(o, x[3], 3, 3);
            for (int i = 0; i < w.Data.Length; i++) w.Data[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
            foreach (var plan in plans)
            {
                var rt = new PtxGpuRuntime();
                using var ops = new CudaOps(rt) { ConvPlanner = (_, _, _) => plan };
                using var dx = ops.Upload(xh);
                var before = rt.Tallies.ToDictionary(kv => kv.Key, kv => kv.Value.TotalInstructions);
                using var y = ops.Conv2d(dx, w, null, 1, Pad2d.Same(1));
                ops.Synchronize();
                var conv = new PiSa.Ptx.PtxLaunchStats();
                foreach (var (k, st) in rt.Tallies)
                    if (k.StartsWith("conv", StringComparison.Ordinal)) conv.Add(st);
                var s = conv;
                output.WriteLine($"[{string.Join(",", x)}] 3x3 ->{o} | {plan} | {s.TotalInstructions:N0} | {s.IntegerInstructions:N0} / {s.Fp32Instructions:N0} / {s.ConversionInstructions:N0} / {s.MemoryInstructions:N0} / {s.ControlInstructions:N0} / {s.CollectiveInstructions:N0} | {s.MmaCount:N0} ({s.WgmmaCount:N0}) | {s.GlobalRequests:N0} / {s.GlobalSectors:N0} ({s.SectorsPerRequest:F2}) | {s.SharedRequests:N0} / {s.SharedWavefronts:N0} ({s.WavefrontsPerSharedRequest:F2}) | {s.GlobalBytesRead / 1e6:F3} / {s.GlobalBytesWritten / 1e6:F3}");
                var (bm, bn, threads, _) = LaunchMath.ConvTileShape(plan.Tile);
                long m = (long)x[0] * x[1] * x[2];
                long blocks = (m + bm - 1) / bm * ((o + bn - 1) / bn);
                int kTiles = LaunchMath.ConvKTiles(LaunchMath.PaddedK(9 * x[3]));
                if (LaunchMath.IsWgmma(plan.Tile))
                {
                    // per block and k-tile: each warpgroup (64 rows) one m64nBNk16 per k16 step, no mma.sync
                    Assert.Equal(0, s.MmaCount);
                    Assert.Equal(blocks * kTiles * (bm / 64) * (LaunchMath.ConvPipeTileK / 16), s.WgmmaCount);
                    Assert.Equal(s.WgmmaCount * 2L * 64 * bn * 16, s.WgmmaFlops);
                    continue;
                }
                long mmaPerWarpTile = bm * bn / (threads / 32) / (16 * 8) * (LaunchMath.ConvPipeTileK / 16);
                Assert.Equal(blocks * kTiles * (threads / 32) * mmaPerWarpTile, s.MmaCount);
            }
        }
    }
}
