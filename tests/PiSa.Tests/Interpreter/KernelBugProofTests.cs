using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// Proofs that the interpreter-backed op checks can fail: copies of the real kernel sources with one deliberate bug
/// (made here by a text replacement on the embedded source, so they stay in step with it) must fail the comparison
/// with the CPU reference or trip an interpreter check. A replacement that no longer matches fails the test, so a
/// kernel edit cannot silently turn a proof into a no-op.
/// </summary>
public sealed class KernelBugProofTests(ITestOutputHelper output)
{
    internal static Func<string, string> Mutate(string file, string from, string to) => f =>
    {
        string src = KernelSources.Get(f);
        if (f != file) return src;
        Assert.True(src.Contains(from, StringComparison.Ordinal), $"{file} no longer contains the text this proof mutates: {from}");
        return src.Replace(from, to, StringComparison.Ordinal);
    };

    private IReadOnlyList<OpCheck> RunOp(Func<string, string> sources, string op, ConvPlan? conv = null)
    {
        using var cpu = new CpuOps();
        // The kernel cache is keyed by the source's hash: a mutated copy never reuses the real kernel's entry.
        using var ops = new CudaOps(new PtxGpuRuntime(sourceOf: sources));
        if (conv is { } plan) ops.ConvPlanner = (_, _, _) => plan;
        var results = OpsSelfTest.Run(cpu, ops, includeLarge: false, only: o => o == op);
        output.WriteLine(OpsSelfTest.Format(results));
        Assert.NotEmpty(results);
        return results;
    }

    [InterpreterFact]
    public void A_wrong_mma_B_fragment_index_fails_the_conv_comparison()
    {
        // The B fragment of m16n8k16 (.col): b0 holds k = 2*tig, 2*tig+1 and b1 holds k = 2*tig+8, 2*tig+9 (PTX ISA,
        // "Matrix Fragments for mma.m16n8k16 with floating point type"). Swapping the two registers multiplies each
        // A column with the wrong B row: numerically wrong, but every access stays in bounds.
        var results = RunOp(Mutate("conv.cu", "b[nt][0] = ld32(p); b[nt][1] = ld32(p + 8);", "b[nt][0] = ld32(p + 8); b[nt][1] = ld32(p);"), "Conv2d",
                            new ConvPlan(ConvTile.Reference));   // conv.cu is the reference version (conv_pipe.cu: ConvPipeBugProofTests)
        Assert.Contains(results, r => !r.Passed && r.Error is null);   // caught by the numbers, not by a crash
    }

    [InterpreterFact]
    public void The_unmutated_conv_passes_the_same_comparison()
    {
        var results = RunOp(KernelSources.Get, "Conv2d", new ConvPlan(ConvTile.Reference));
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
    }
}
