using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// Proofs that the fused-op checks (<see cref="FusedConvOnInterpreterTests"/>) can fail: each copy of the real source
/// with one deliberate bug in a fusion must fail OpsSelfTest's comparison with the CPU composition.
/// </summary>
public sealed class FusedKernelBugProofTests(ITestOutputHelper output)
{
    private IReadOnlyList<OpCheck> Run(string file, string from, string to, string op, ConvPlan plan)
    {
        using var cpu = new CpuOps();
        using var ops = new CudaOps(new PtxGpuRuntime(sourceOf: KernelBugProofTests.Mutate(file, from, to)))
        {
            ConvPlanner = (_, _, _) => plan,
            Fusions = new CudaFusions(),
        };
        var results = OpsSelfTest.Run(cpu, ops, includeLarge: false, only: o => o == op).Where(r => r.Op == op).ToList();
        output.WriteLine(OpsSelfTest.Format(results));
        Assert.NotEmpty(results);
        return results;
    }

    [InterpreterFact]
    public void Value_and_gate_swapped_in_the_geglu_epilogue_fails_the_numbers()
    {
        var r = Run("conv_pipe.cu", "geglu1(v[e], v[e + 8], bias, pc + e)", "geglu1(v[e + 8], v[e], bias, pc + e)", "LinearGeglu", new ConvPlan(ConvTile.T64x64));
        Assert.All(r, c => Assert.False(c.Passed, c.ToString()));
    }

    [InterpreterFact]
    public void A_dropped_split_in_the_geglu_reduce_fails_the_numbers()
    {
        var r = Run("conv_pipe.cu", "for (int z = 0; z < splits; z++) {", "for (int z = 0; z < splits - 1; z++) {", "LinearGeglu", new ConvPlan(ConvTile.T128x128, 2));
        Assert.Contains(r, c => !c.Passed && c.Error is null);
    }

    [InterpreterFact]
    public void A_wrong_source_height_for_the_cropped_upsampling_fails_the_numbers()
    {
        // H >> 1 instead of (H + 1) >> 1: right for even heights, wrong rows for the UNet's odd (2H - 1) sizes.
        var r = Run("conv_pipe.cu", "g.Hx = (H + g.up) >> g.up;", "g.Hx = H >> g.up;", "Conv2dUpsampled", new ConvPlan(ConvTile.T64x64));
        Assert.Contains(r, c => !c.Passed);
        Assert.Contains(r, c => c.Passed);   // the even cases are untouched: the check is specific
    }

    [InterpreterFact]
    public void The_concat_boundary_one_channel_off_fails()
    {
        var r = Run("conv_pipe.cu", "return ci < C1 ? x + p * C1 + ci", "return ci <= C1 ? x + p * C1 + ci", "Conv2dConcat", new ConvPlan(ConvTile.T128x64));
        Assert.Contains(r, c => !c.Passed);
    }

    [InterpreterFact]
    public void The_wrong_pixel_stride_for_the_second_tensor_in_the_concat_group_norm_fails()
    {
        var r = Run("norm.cu", "pb[(long long)p * C2 + c]", "pb[(long long)p * C1 + c]", "GroupNormConcat", new ConvPlan(ConvTile.T64x64));
        Assert.All(r, c => Assert.False(c.Passed, c.ToString()));
    }
}
