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
    public void The_padded_shared_rows_of_the_flash_kernel_avoid_bank_conflicts()
    {
        // Rows of exactly 16*KC halfs (128 bytes at D = 64) put the 8 rows of every ldmatrix phase in the same 4 banks.
        var s = new AttentionShape(1, 64, 128, 1, 64, false);
        PiSa.Ptx.PtxLaunchStats Flash(Func<string, string> src)
        {
            using var ops = new CudaOps(new PtxGpuRuntime(sourceOf: src));
            var r = AttentionVersions.Run(ops, s).Single(x => x.Version == "flash");
            Assert.True(r.Passed, $"relL2 {r.RelL2}");
            return r.Counters!;
        }
        var padded = Flash(KernelSources.Get);
        var unpadded = Flash(f =>
        {
            string src = KernelSources.Get(f);
            if (f != "attention_flash.cu") return src;
            Assert.Contains("constexpr int DS = 16 * KC + 8", src);
            return src.Replace("constexpr int DS = 16 * KC + 8", "constexpr int DS = 16 * KC + 0", StringComparison.Ordinal);
        });
        output.WriteLine($"shared wavefronts: padded {padded.SharedWavefronts} / {padded.SharedRequests} req, unpadded {unpadded.SharedWavefronts} / {unpadded.SharedRequests} req");
        Assert.Equal(padded.SharedRequests, unpadded.SharedRequests);
        Assert.True(unpadded.SharedWavefronts > 3 * padded.SharedWavefronts, "padding should remove the 8-way ldmatrix conflicts");
    }

    [InterpreterFact]
    public void The_head_dim_512_runs_only_on_the_versions_that_take_it()
    {
        var s = new AttentionShape(1, 9, 13, 1, 512, false);
        using var ops = new CudaOps(new PtxGpuRuntime());
        var rs = AttentionVersions.Run(ops, s);
        output.WriteLine(AttentionVersions.Format(s, rs));
        Assert.Equal(["simt", "gemm"], rs.Select(r => r.Version));
        Assert.All(rs, r => Assert.True(r.Passed, $"{r.Version} relL2 {r.RelL2}"));
    }
}
