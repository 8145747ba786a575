using PiSa.Engine.Backends.Cuda;
using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>Real kernels of kernels/*.cu launched directly, against trivially correct expectations.</summary>
public class PtxDirectKernelTests
{
    [PtxFact]
    public void F16ToF32ConvertsEveryElementOfAGridStrideLoop()
    {
        var k = PtxCompile.Kernel("elementwise.cu", KernelSources.Get("elementwise.cu"), "f16_to_f32");
        var dev = new PtxTestDevice();
        var rng = new Random(1);
        int n = 1000;
        var x = Enumerable.Range(0, n).Select(_ => (Half)(rng.NextSingle() * 8 - 4)).ToArray();
        ulong px = dev.Upload(x, "x"), py = dev.Output<float>(n, "y");
        var stats = dev.Launch(k, new PtxDim3(3), new PtxDim3(128), px, py, n);
        var y = dev.Download<float>(py, n);
        for (int i = 0; i < n; i++) Assert.Equal((float)x[i], y[i]);
        Assert.True(stats.TotalInstructions > n * 5, stats.ToString());
        Assert.True(stats.GlobalRequests > 0 && stats.GlobalSectors > 0, stats.ToString());
    }
}
