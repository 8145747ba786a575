using System.Diagnostics;
using PiSa.Engine.Backends.Cuda;
using PiSa.Ptx;
using Xunit.Abstractions;

namespace PiSa.Tests.Ptx;

/// <summary>
/// The interpreter's instruction rate on the real conv kernel, per second of process CPU time (wall time on a
/// loaded shared machine says more about the load than about the interpreter). The floor is far below the
/// measured rate (bench/RESULTS.md, "PTX interpreter"): it catches a per-instruction allocation or string
/// lookup creeping into the hot loop, not ordinary noise.
/// </summary>
public class PtxSpeedTests(ITestOutputHelper output)
{
    [PtxFact]
    public void ConvRunsAtSeveralMillionThreadInstructionsPerCpuSecond()
    {
        var k = PtxCompile.Kernel("conv.cu", KernelSources.Get("conv.cu"), "conv2d_igemm_f16");
        // 16x16 pixels, 64 -> 64 channels, 3x3: 4 blocks of 128 threads, about 1.7 M thread-instructions per launch
        var (dev, args, _) = PtxCheckTests.ConvSetup(C: 64, O: 64, H: 16, W: 16);
        var grid = new PtxDim3(4, 1);
        dev.Launch(k, grid, new PtxDim3(128), args);   // warm-up
        var proc = Process.GetCurrentProcess();
        var cpu0 = proc.TotalProcessorTime;
        var stats = new PtxLaunchStats();
        for (int i = 0; i < 2; i++) stats.Add(dev.Launch(k, grid, new PtxDim3(128), args));
        proc.Refresh();
        double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;   // all threads of the test process: an upper bound
        double perCpu = stats.TotalInstructions / cpu, perWall = stats.TotalInstructions / stats.WallTime.TotalSeconds;
        output.WriteLine($"checks on: {perCpu / 1e6:F1} M thread-instructions per CPU second, {perWall / 1e6:F1} M per wall second; {stats}");
        Assert.True(perCpu > 2e6, $"interpreter at {perCpu / 1e6:F2} M thread-instructions per CPU second: {stats}");

        proc.Refresh();
        cpu0 = proc.TotalProcessorTime;
        var off = dev.Launch(k, grid, new PtxDim3(128), 0, new PtxLaunchOptions { Checks = false }, args);
        proc.Refresh();
        cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
        output.WriteLine($"checks off: {off.TotalInstructions / cpu / 1e6:F1} M thread-instructions per CPU second, " +
                         $"{off.TotalInstructions / off.WallTime.TotalSeconds / 1e6:F1} M per wall second");
    }

    /// <summary>Counters of today's kernels at a few shapes, for bench/RESULTS.md (the assertions only check consistency).</summary>
    [PtxFact]
    public void CountersOfTodaysKernels()
    {
        var conv = PtxCompile.Kernel("conv.cu", KernelSources.Get("conv.cu"), "conv2d_igemm_f16");
        foreach (var (c, o) in new[] { (8, 8), (3, 64) })
        {
            var (dev, args, _) = PtxCheckTests.ConvSetup(C: c, O: o, H: 8, W: 8);
            var st = dev.Launch(conv, new PtxDim3(1, (o + 63) / 64), new PtxDim3(128), args);
            output.WriteLine($"conv2d_igemm_f16 8x8 C={c} O={o} 3x3: {st}");
            Assert.True(st.GlobalSectors >= st.GlobalRequests && st.SharedWavefronts >= st.SharedRequests);
        }
        var att = PtxCompile.Kernel("attention.cu", KernelSources.Get("attention.cu"), "attention_f16");
        foreach (int d in new[] { 40, 64 })
        {
            int L = 64, H = 2, warps = LaunchMath.AttentionWarps(d);
            var dev = new PtxTestDevice();
            var rng = new Random(d);
            Half[] R(int n) => Enumerable.Range(0, n).Select(_ => (Half)(rng.NextSingle() - 0.5f)).ToArray();
            ulong q = dev.Upload(R(L * H * d), "q"), k = dev.Upload(R(L * H * d), "k"), v = dev.Upload(R(L * H * d), "v");
            ulong y = dev.Output<Half>(L * H * d, "out");
            var st = dev.Launch(att, new PtxDim3((L + warps - 1) / warps, H, 1), new PtxDim3(32 * warps), LaunchMath.AttentionShared(warps, d),
                new PtxLaunchOptions(), q, k, v, y, L, L, H, d, H * d, H * d, H * d, 1f / MathF.Sqrt(d), 0);
            output.WriteLine($"attention_f16 L=64 H=2 D={d}: {st}");
            Assert.True(st.GlobalSectors >= st.GlobalRequests && st.SharedWavefronts >= st.SharedRequests);
        }
    }
}
