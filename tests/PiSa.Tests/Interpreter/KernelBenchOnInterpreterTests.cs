using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Bench.Kernels;
using PiSa.Engine.Tensors;
using PiSa.Tests.Cli;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// The bench/kernels harness on the interpreter, as CI runs it: every registered family's versions pass their check
/// against the CPU reference on the interpreter-sized cases, with counters; a wrong version fails the check; and
/// `pisa kernels --device ptx` (the command the GPU machine's binary also runs) prints the table and exits 0.
/// About 10 s in all on an idle 2-core machine.
/// </summary>
public sealed class KernelBenchOnInterpreterTests
{
    [InterpreterFact]
    public void Every_version_of_every_family_passes_its_check_with_counters()
    {
        using var ops = new CudaOps(new PtxGpuRuntime());
        var bench = new KernelBench(ops);
        foreach (var family in KernelFamilies.All)
        {
            var results = bench.Run(family, smallOnly: true).ToList();
            Assert.True(family.Cases.Any(c => c.Small), $"{family.Name} has no interpreter-sized case");
            Assert.Equal(family.Versions.Count * family.Cases.Count(c => c.Small), results.Count);
            Assert.All(results, r => Assert.True(r.Passed, $"{r.Family} {r.Version} {r.Case}: relL2 {r.RelL2:E2} {r.Error}"));
            Assert.All(results, r => Assert.True(r.Launches > 0 && r.Counters is { TotalInstructions: > 0 }, $"{r.Version} {r.Case}: no counters"));
            Assert.All(results, r => Assert.Null(r.TimesMs));   // no times on the interpreter
        }
    }

    [InterpreterFact]
    public void GroupNorm_versions_take_three_launches_against_one_or_two()
    {
        using var ops = new CudaOps(new PtxGpuRuntime());
        var results = new KernelBench(ops).Run(GroupNormFamily.Instance, smallOnly: true).ToList();
        Assert.All(results.Where(r => r.Version == "v1-three-launch"), r => Assert.Equal(3, r.Launches));
        Assert.Equal([1, 1, 2], results.Where(r => r.Version == "v2-fused").Select(r => r.Launches));
    }

    /// <summary>A version with a plausible bug (the SiLU flag ignored): the harness must report it as failing.</summary>
    private sealed class NoSilu : IKernelVersion
    {
        public string Name => "broken-no-silu";
        public string Summary => "test only";
        public DeviceTensor Run(CudaOps ops, KernelCase c, DeviceTensor[] inputs)
        {
            var k = (GroupNormFamily.Case)c;
            return ops.GroupNorm(inputs[0], k.Gamma, k.Beta, k.Groups, GroupNormFamily.Case.Eps, silu: false);
        }
    }

    private sealed class WithVersion(IKernelFamily inner, IKernelVersion extra) : IKernelFamily
    {
        public string Name => inner.Name;
        public string Summary => inner.Summary;
        public double Tolerance => inner.Tolerance;
        public IReadOnlyList<IKernelVersion> Versions => [extra];
        public IReadOnlyList<KernelCase> Cases => inner.Cases;
    }

    [InterpreterFact]
    public void A_wrong_version_fails_its_check()
    {
        using var ops = new CudaOps(new PtxGpuRuntime());
        var results = new KernelBench(ops).Run(new WithVersion(GroupNormFamily.Instance, new NoSilu()), smallOnly: true).ToList();
        var silu = results.Where(r => r.Case.EndsWith("silu", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(silu);
        Assert.All(silu, r => Assert.False(r.Passed, $"{r.Case}: relL2 {r.RelL2:E2} passed"));
        Assert.Contains("FAIL", KernelBench.Format(results, onInterpreter: true));
    }

    [InterpreterFact]
    public void Pisa_kernels_on_ptx_prints_counters_and_exits_0()
    {
        var r = PisaProcess.RunWithin(300, "kernels", "--device", "ptx", "--family", "groupnorm");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Matches(@"ok\s+groupnorm\s+v2-fused\s+\[1,65,32,32\] g1\s+\S+\s+2\s+[\d.]+", r.Stdout);
        Assert.Contains("checks passed (interpreter counters, not GPU times)", r.Stdout);
    }

    [Fact]
    public void Bad_kernels_arguments_are_one_line_errors()
    {
        PisaProcess.AssertOneLineError(PisaProcess.Run("kernels", "--family", "nope", "--list"), "nope");
        PisaProcess.AssertOneLineError(PisaProcess.Run("kernels", "--version", "v9", "--list"), "v9");
        PisaProcess.AssertOneLineError(PisaProcess.Run("kernels", "--device", "cpu"), "cpu", exitCode: 2);
        var list = PisaProcess.Run("kernels", "--list");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("version v1-three-launch", list.Stdout);
    }
}
