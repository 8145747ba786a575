using PiSa.Engine.Backends.Cpu.X64;

namespace PiSa.Engine.Backends.Cpu.Bf16;

/// <summary>
/// Whether this process can run the bf16 GEMM: AVX-512 usable (<see cref="Avx512Support"/>: CPU, OS state, not
/// switched off) and AVX512-BF16 (vdpbf16ps). .NET has no Avx512Bf16 class at all, hence the hand-encoded
/// micro-kernel (<see cref="Bf16MicroKernel"/>).
/// PISA_CPU_BF16=off makes a capable CPU report itself incapable, so the refusal path can be tested anywhere.
/// </summary>
public static class Bf16Support
{
    public const string OverrideVariable = "PISA_CPU_BF16";

    /// <summary>Null when supported, otherwise why not (one line).</summary>
    public static string? UnavailableReason()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(OverrideVariable), "off", StringComparison.OrdinalIgnoreCase))
            return $"disabled by {OverrideVariable}=off";
        if (Avx512Support.UnavailableReason() is string why) return why;
        return Avx512Support.HasBf16 ? null : "this CPU does not support AVX512-BF16 (vdpbf16ps)";
    }

    public static bool IsSupported => UnavailableReason() == null;
}
