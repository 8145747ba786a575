using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace PiSa.Engine.Backends.Cpu.Bf16;

/// <summary>
/// Whether this process can run the bf16 GEMM: an x86-64 Linux CPU with AVX512-BF16 (CPUID leaf 7 subleaf 1,
/// EAX bit 5) whose OS saves the zmm state (Avx512F.IsSupported checks XCR0). .NET has no Avx512Bf16
/// intrinsics class, hence the CPUID probe and the hand-encoded micro-kernel (<see cref="Bf16MicroKernel"/>).
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
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64 || !X86Base.IsSupported)
            return $"needs an x86-64 CPU with AVX512-BF16, this is {RuntimeInformation.ProcessArchitecture}";
        if (!OperatingSystem.IsLinux())
            return "the bf16 micro-kernel is mapped with Linux mmap; this OS is not supported";
        if (!Avx512F.IsSupported)
            return "this CPU (or OS) does not support AVX-512";
        if (!HasAvx512Bf16())
            return "this CPU does not support AVX512-BF16 (vdpbf16ps)";
        return null;
    }

    public static bool IsSupported => UnavailableReason() == null;

    private static bool HasAvx512Bf16()
    {
        var (maxSub, _, _, _) = X86Base.CpuId(7, 0);
        if (maxSub < 1) return false;
        var (eax, _, _, _) = X86Base.CpuId(7, 1);
        return (eax & (1 << 5)) != 0;
    }
}
