using PiSa.Engine.Backends.Cpu.Bf16;

namespace PiSa.Tests.Cpu.Bf16;

/// <summary>A fact that runs the bf16 kernel; skipped, with the reason, on a CPU without AVX512-BF16.</summary>
public sealed class Bf16FactAttribute : FactAttribute
{
    public Bf16FactAttribute()
    {
        if (Bf16Support.UnavailableReason() is string why) Skip = "bf16 GEMM unavailable: " + why;
    }
}

/// <summary>A theory that runs the bf16 kernel; skipped, with the reason, on a CPU without AVX512-BF16.</summary>
public sealed class Bf16TheoryAttribute : TheoryAttribute
{
    public Bf16TheoryAttribute()
    {
        if (Bf16Support.UnavailableReason() is string why) Skip = "bf16 GEMM unavailable: " + why;
    }
}
