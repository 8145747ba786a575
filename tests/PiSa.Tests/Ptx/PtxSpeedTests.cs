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
        output.WriteLine($"{perCpu / 1e6:F1} M thread-instructions per CPU second, {perWall / 1e6:F1} M per wall second; {stats}");
        Assert.True(perCpu > 2e6, $"interpreter at {perCpu / 1e6:F2} M thread-instructions per CPU second: {stats}");
    }
}
