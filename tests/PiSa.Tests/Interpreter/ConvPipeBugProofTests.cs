using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// Proofs that the conv_pipe.cu checks can fail (see <see cref="KernelBugProofTests"/>): each copy of the real source
/// with one deliberate bug must fail the CPU comparison (a numeric failure or an interpreter check, as each says).
/// </summary>
public sealed class ConvPipeBugProofTests(ITestOutputHelper output)
{
    private IReadOnlyList<OpCheck> RunConv(Func<string, string> sources, ConvPlan plan)
    {
        using var cpu = new CpuOps();
        using var ops = new CudaOps(new PtxGpuRuntime(sourceOf: sources)) { ConvPlanner = (_, _, _) => plan };
        var results = OpsSelfTest.Run(cpu, ops, includeLarge: false, only: o => o == "Conv2d");
        output.WriteLine(OpsSelfTest.Format(results));
        Assert.NotEmpty(results);
        return results;
    }

    private static Func<string, string> Mutate(string from, string to) => KernelBugProofTests.Mutate("conv_pipe.cu", from, to);

    [InterpreterFact]
    public void Computing_a_stage_before_its_cp_async_wait_fails()
    {
        // wait_group AHEAD (= STAGES-1 here) lets the newest S-1 groups stay in flight: tile t is then still on its way when it is
        // computed. The interpreter performs a copy only at the wait that completes it, so the first tiles read shared
        // memory never written (the uninitialised-shared check) and later ones the previous tile's bytes.
        var results = RunConv(Mutate("cp_async_wait<AHEAD - 1>();", "cp_async_wait<AHEAD>();"), new ConvPlan(ConvTile.T64x64));
        Assert.Contains(results, r => !r.Passed);
        Assert.Contains(results, r => r.Error is { } e && e.Contains("never written", StringComparison.OrdinalIgnoreCase) || r.Error?.Contains("uninit", StringComparison.OrdinalIgnoreCase) == true);
    }

    [InterpreterFact]
    public void A_wrong_tap_in_the_scalar_gather_fails_the_numbers()
    {
        // ky and kx swapped in the scalar gather (C = 3, 4, 12): a transposed 3x3 window, every access in bounds.
        var results = RunConv(Mutate("int iy = sIy[row] + wa.ky, ix = sIx[row] + wa.kx;", "int iy = sIy[row] + wa.kx, ix = sIx[row] + wa.ky;"),
                              new ConvPlan(ConvTile.T128x128));
        Assert.Contains(results, r => !r.Passed && r.Error is null);
    }

    [InterpreterFact]
    public void A_wrong_tap_offset_in_the_16_byte_gather_fails()
    {
        // The incremental offset one pixel off at each row change of the window (bounds are still tested on ky, kx):
        // wrong pixels, or past the activation buffer where the interpreter's bounds check stops it.
        var results = RunConv(Mutate("off += (W - KW) * C;", "off += (W - KW + 1) * C;"), new ConvPlan(ConvTile.T64x64));
        Assert.Contains(results, r => !r.Passed);
    }

    [InterpreterFact]
    public void A_dropped_split_fails_the_numbers()
    {
        var results = RunConv(Mutate("for (int z = 0; z < splits; z++) s +=", "for (int z = 0; z < splits - 1; z++) s +="), new ConvPlan(ConvTile.T64x64, 3));
        Assert.Contains(results, r => !r.Passed && r.Error is null);
    }

    [InterpreterFact]
    public void A_wrong_ldmatrix_row_for_b_fails_the_numbers()
    {
        // The B x4 load's n8 pair: lanes 16-31 address the second n8 tile; dropping that offset loads the first twice.
        var results = RunConv(Mutate("(wn + nt * 8 + (lane >> 4) * 8 + (lane & 7))", "(wn + nt * 8 + (lane & 7))"), new ConvPlan(ConvTile.T128x64));
        Assert.Contains(results, r => !r.Passed && r.Error is null);
    }

    [InterpreterFact]
    public void A_missing_barrier_before_reusing_a_buffer_is_a_race()
    {
        // Without the barrier after the wait a fast warp issues tile t+S-1 into the buffer a slow warp still reads
        // (tile t-1) and reads tile t before the other threads' copies landed: the race check reports it.
        var results = RunConv(Mutate("        __syncthreads();               // ... everyone's too, and everyone is done with tile t-1's buffer", ""),
                              new ConvPlan(ConvTile.T64x64));
        Assert.Contains(results, r => !r.Passed && r.Error is not null);
    }

    // ---- the wgmma tile (conv_pipe.cu+wgmma): the same source, so the same mutations reach it ----

    [InterpreterFact]
    public void A_wrong_wgmma_stride_offset_fails_the_numbers()
    {
        // SBO of A one 8-row group too short: rows 8..63 of each warpgroup read the wrong core matrices.
        var results = RunConv(Mutate("descA0 = wg_desc<128, 8 * PIPE_BK * 2>(", "descA0 = wg_desc<128, 4 * PIPE_BK * 2>("),
                              new ConvPlan(ConvTile.T128x128Wgmma));
        Assert.Contains(results, r => !r.Passed);
    }

    [InterpreterFact]
    public void A_wrong_accumulator_row_in_the_wgmma_staging_fails_the_numbers()
    {
        // warps 2 and 3 of a warpgroup write their 16-row slices over warps 0 and 1's.
        var results = RunConv(Mutate("const int r0 = (warp >> 2) * 64 + (warp & 3) * 16 + gid;", "const int r0 = (warp >> 2) * 64 + (warp & 1) * 16 + gid;"),
                              new ConvPlan(ConvTile.T128x128Wgmma));
        Assert.Contains(results, r => !r.Passed);
    }

    [InterpreterFact]
    public void Leaving_the_last_wgmma_group_in_flight_fails()
    {
        // Without the final wait_group 0 the last tile's group is still pending: the epilogue reads accumulators it
        // never reached (the interpreter performs a wgmma at the wait that completes it), or the interpreter
        // reports a thread that exits with a wgmma still queued.
        var results = RunConv(Mutate("wg_wait<0>();    // the last tile's group", "// no final wait"), new ConvPlan(ConvTile.T128x128Wgmma));
        Assert.Contains(results, r => !r.Passed);
    }

    [InterpreterFact]
    public void Refilling_a_buffer_a_wgmma_group_still_reads_fails()
    {
        // Copies STAGES - 1 tiles ahead, as the mma.sync tiles do: iteration t refills the buffer of tile t-1 while
        // its group is still in flight (waited for only after tile t's group is issued).
        var results = RunConv(Mutate("enum { AHEAD = WG ? STAGES - 2 : STAGES - 1 };", "enum { AHEAD = STAGES - 1 };"),
                              new ConvPlan(ConvTile.T128x128Wgmma));
        Assert.Contains(results, r => r.Error?.Contains("wgmma.mma_async in flight reads", StringComparison.Ordinal) == true);
    }

    [InterpreterFact]
    public void A_missing_proxy_fence_before_wgmma_is_reported()
    {
        // cp.async wrote the stage through the generic proxy; without fence.proxy.async wgmma may read stale bytes.
        var results = RunConv(Mutate("if (WG) proxy_fence_shared<0>();", ""), new ConvPlan(ConvTile.T128x128Wgmma));
        Assert.Contains(results, r => r.Error?.Contains("no fence.proxy.async", StringComparison.Ordinal) == true);
    }
}
