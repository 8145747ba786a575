using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;
using PiSa.Tests.Cuda;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// count_nonfinite_f16 on a real GPU against the CPU count (skipped without one; OpsSelfTest runs the same op
/// in `pisa selftest --device cuda`). Random values with NaN and infinities planted, sizes that end inside a
/// block and that need several grid-stride rounds, and float32 values that only overflow once stored as fp16.
/// </summary>
public class NonFiniteKernelGpuTests
{
    private static HostTensor Planted(int seed, int n, int bad, out int[] at)
    {
        var r = new Random(seed);
        var t = new HostTensor([n]);
        for (int i = 0; i < n; i++) t.Data[i] = (float)(r.NextDouble() * 200 - 100) + 0.01f;
        var set = new HashSet<int> { n - 1 };
        while (set.Count < bad) set.Add(r.Next(n));
        at = [.. set];
        int k = 0;
        foreach (int i in at) t.Data[i] = (k++ % 3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
        return t;
    }

    [GpuNvrtcFact]
    public void CountsMatchTheCpuBackend()
    {
        var (gpu, reason) = PiSaCudaRuntime.TryCreateOps();
        Assert.True(gpu is not null, reason);
        using (gpu)
        {
            using var cpu = new CpuOps();
            // 1 element; one partial block; exactly one full block; many blocks; more than 1024 blocks x 256 threads.
            foreach (var (n, bad) in new[] { (1, 1), (300, 3), (256, 5), (70_001, 40), (3 * 1024 * 256 + 17, 500) })
            {
                var x = Planted(n, n, bad, out _);
                using var dc = cpu.Upload(x);
                using var dg = gpu!.Upload(x);
                Assert.Equal(bad, cpu.CountNonFinite(dc));
                Assert.Equal(cpu.CountNonFinite(dc), gpu.CountNonFinite(dg));
            }
            // 65504 is fp16's largest finite value; 70000 and -1e6 are finite in float32 but inf once stored in fp16.
            var edge = new HostTensor([6], [65504f, -65504f, 70000f, -1e6f, 6e-8f, 0f]);
            using var ec = cpu.Upload(edge);
            using var eg = gpu!.Upload(edge);
            Assert.Equal(0, cpu.CountNonFinite(ec));
            Assert.Equal(2, gpu.CountNonFinite(eg));
        }
    }
}
