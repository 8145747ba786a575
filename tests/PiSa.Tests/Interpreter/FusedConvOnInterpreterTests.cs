using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// The fused ops of conv_pipe.cu (GEGLU epilogue, upsampling and concat folded into the gather) and norm.cu (the concat
/// GroupNorm) on the PTX interpreter,
/// every block tile and split-K forced, against the float32 CPU reference running IOps' unfused compositions on
/// OpsSelfTest's fused cases (F % 8 != 0, C = 3, C % 8 != 0, C1 % 8 != 0, the cropped 2x - 1 upsampling, M and O
/// tails). Each run must have used the fused kernels and none of the kernels the fusion removes.
/// </summary>
public sealed class FusedConvOnInterpreterTests(ITestOutputHelper output)
{
    private static bool Fused(string op) => op is "LinearGeglu" or "Conv2dUpsampled" or "Conv2dConcat" or "GroupNormConcat";

    [InterpreterTheory]
    [InlineData("T64x64")]
    [InlineData("T128x64")]
    [InlineData("T128x128")]
    [InlineData("T64x64 split 3")]
    [InlineData("T128x128 split 2")]
    public void Every_fused_case_matches_the_cpu_composition(string plan)
    {
        var p = ConvPipeOnInterpreterTests.ParsePlan(plan);
        var rt = new PtxGpuRuntime();
        using var cpu = new CpuOps();
        using var ops = new CudaOps(rt) { ConvPlanner = (_, _, _) => p, Fusions = new CudaFusions() };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var results = OpsSelfTest.Run(cpu, ops, includeLarge: false, only: Fused).Where(r => Fused(r.Op)).ToList();
        output.WriteLine(OpsSelfTest.Format(results));
        output.WriteLine($"{plan}: {rt.Launches} launches, {rt.TotalInstructions:N0} thread-instructions, {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(14, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        Assert.True(rt.Tallies.ContainsKey(LaunchMath.ConvKernelName(p.Tile, gather: true)), "the gather kernel did not run");
        Assert.True(rt.Tallies.ContainsKey(LaunchMath.ConvKernelName(p.Tile)), "the GEGLU GEMM did not run on conv_pipe");
        foreach (var gone in new[] { "geglu_f16", "upsample_nearest_f16", "crop_spatial_f16", "concat_channels_f16" })
            Assert.False(rt.Tallies.ContainsKey(gone), $"{gone} ran: a fusion fell back to its composition");
        Assert.Equal(p.Splits > 1, rt.Tallies.ContainsKey("conv_splitk_reduce_geglu_f16"));
        foreach (var k in new[] { "gn_fused_cat_f16", "gn_partial_stats_cat", "gn_apply_partials_cat" })
            Assert.True(rt.Tallies.ContainsKey(k), $"{k} did not run");
    }

    [InterpreterFact]
    public void Without_fusions_the_same_cases_run_the_compositions()
    {
        var rt = new PtxGpuRuntime();
        using var cpu = new CpuOps();
        using var ops = new CudaOps(rt) { Fusions = CudaFusions.None };
        var results = OpsSelfTest.Run(cpu, ops, includeLarge: false, only: Fused).Where(r => Fused(r.Op)).ToList();
        Assert.Equal(14, results.Count);
        output.WriteLine(OpsSelfTest.Format(results));
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        Assert.True(rt.Tallies.ContainsKey("geglu_f16") && rt.Tallies.ContainsKey("upsample_nearest_f16") && rt.Tallies.ContainsKey("concat_channels_f16"));
        Assert.DoesNotContain(rt.Tallies.Keys, k => k.Contains("_gather_", StringComparison.Ordinal) || k.Contains("_cat", StringComparison.Ordinal)
                                                    || k == "conv_splitk_reduce_geglu_f16");
    }
}
