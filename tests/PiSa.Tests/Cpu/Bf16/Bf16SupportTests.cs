using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;

namespace PiSa.Tests.Cpu.Bf16;

public class Bf16SupportTests
{
    [Fact]
    public void The_library_refuses_bf16_off_the_cpu_in_one_line()
    {
        var e = Assert.Throws<PisaException>(() => BackendFactory.Create("ptx", precision: CpuPrecision.Bf16));
        Assert.Contains("CPU backend only", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Bf16Fact]
    public void The_bf16_backend_says_so()
    {
        using var ops = (CpuOps)BackendFactory.Create("cpu", precision: CpuPrecision.Bf16);
        Assert.Equal(CpuPrecision.Bf16, ops.Precision);
        Assert.Equal(CpuPrecision.Fp32, new CpuOps().Precision);
    }
}
