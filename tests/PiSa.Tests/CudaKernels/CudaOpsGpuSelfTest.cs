using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// On a machine with a usable GPU: every op of CudaOps against CpuOps through OpsSelfTest (tiny shapes;
/// set PISA_SELFTEST_LARGE=1 for the SD2.1-sized cases too). Elsewhere it reports itself skipped and passes.
/// </summary>
public class CudaOpsGpuSelfTest(ITestOutputHelper output)
{
    [Fact]
    public void CudaOpsMatchCpuOps()
    {
        var (ops, reason) = PiSaCudaRuntime.TryCreateOps();
        if (ops is null)
        {
            output.WriteLine($"SKIPPED: no usable CUDA device ({reason})");
            return;
        }
        using (ops)
        {
            using var cpu = new CpuOps();
            bool large = Environment.GetEnvironmentVariable("PISA_SELFTEST_LARGE") == "1";
            var results = OpsSelfTest.Run(cpu, ops, includeLarge: large, progress: r => output.WriteLine(r.ToString()));
            output.WriteLine(OpsSelfTest.Format(results));
            Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        }
    }
}
