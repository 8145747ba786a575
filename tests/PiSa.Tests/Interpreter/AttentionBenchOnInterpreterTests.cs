using PiSa.Bench.Kernels.Attention;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// bench/kernels/attention's check on the interpreter, as CI runs it: every version of attention that takes the
/// shape matches the CPU reference, and the counters say what each version is for (the tensor-core versions run mma,
/// the flash version needs fewer instructions and global requests than the first tensor-core one, and the SIMT
/// reference none of either).
/// </summary>
public sealed class AttentionBenchOnInterpreterTests(ITestOutputHelper output)
{
    [InterpreterFact]
    public void Every_version_passes_and_the_counters_rank_them()
    {
        var s = new AttentionShape(1, 130, 150, 2, 64, false);
        using var ops = new CudaOps(new PtxGpuRuntime());
        var rs = AttentionVersions.Run(ops, s);
        output.WriteLine(AttentionVersions.Format(s, rs));
        Assert.Equal(["simt", "mma", "flash"], rs.Select(r => r.Version));
        Assert.All(rs, r => Assert.True(r.Passed, $"{r.Version} relL2 {r.RelL2}"));
        var simt = rs[0].Counters!; var mma = rs[1].Counters!; var flash = rs[2].Counters!;
        Assert.Equal(0, simt.MmaCount);
        Assert.Equal(mma.MmaCount, flash.MmaCount);   // the same tiles of the same mma shape
        Assert.True(flash.TotalInstructions < mma.TotalInstructions && mma.TotalInstructions < simt.TotalInstructions);
        Assert.True(flash.GlobalRequests * 10 < mma.GlobalRequests, "cp.async 16-byte copies should cut global requests tenfold");
    }

    [InterpreterFact]
    public void The_head_dim_512_runs_only_on_the_versions_that_take_it()
    {
        var s = new AttentionShape(1, 9, 13, 1, 512, false);
        using var ops = new CudaOps(new PtxGpuRuntime());
        var rs = AttentionVersions.Run(ops, s);
        output.WriteLine(AttentionVersions.Format(s, rs));
        Assert.DoesNotContain(rs, r => r.Version is "mma" or "flash");
        Assert.All(rs, r => Assert.True(r.Passed, $"{r.Version} relL2 {r.RelL2}"));
    }
}
