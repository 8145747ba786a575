using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace PiSa.Engine.Backends.Cpu.X64;

/// <summary>
/// Whether this process may run the hand-encoded AVX-512 GEMM micro-kernels (<see cref="Fp32Avx512Kernel"/>,
/// <see cref="Bf16.Bf16MicroKernel"/>): an x86-64 Linux CPU with AVX512F (CPUID leaf 7 EBX bit 16) whose OS saves
/// the opmask and zmm state (XCR0 bits 1, 2, 5, 6, 7, read with xgetbv after checking OSXSAVE). Probed by hand, not
/// with Avx512F.IsSupported: the NativeAOT build targets x86-64-v3, where that is a compile-time false.
/// PISA_CPU_AVX512=off makes a capable CPU report itself incapable (the float32 GEMM then runs its 256-bit kernel,
/// and bf16 is refused), so the other paths can be run and compared on any machine.
/// </summary>
public static unsafe class Avx512Support
{
    public const string OverrideVariable = "PISA_CPU_AVX512";

    /// <summary>Null when AVX-512 may be used, otherwise why not (one line).</summary>
    public static string? UnavailableReason()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(OverrideVariable), "off", StringComparison.OrdinalIgnoreCase))
            return $"disabled by {OverrideVariable}=off";
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64 || !X86Base.IsSupported)
            return $"needs an x86-64 CPU with AVX-512, this is {RuntimeInformation.ProcessArchitecture}";
        if (!OperatingSystem.IsLinux())
            return "the AVX-512 micro-kernels are mapped with Linux mmap; this OS is not supported";
        return s_probe.Value;
    }

    /// <summary>Whether the CPU has AVX512-BF16 (vdpbf16ps, CPUID leaf 7 subleaf 1 EAX bit 5); meaningful only
    /// when <see cref="UnavailableReason"/> is null.</summary>
    public static bool HasBf16 => s_bf16.Value;

    private static readonly Lazy<string?> s_probe = new(Probe);
    private static readonly Lazy<bool> s_bf16 = new(() =>
    {
        var (maxSub, _, _, _) = X86Base.CpuId(7, 0);
        return maxSub >= 1 && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;
    });

    private static string? Probe()
    {
        var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        if (maxLeaf < 7) return "this CPU does not support AVX-512 (no CPUID leaf 7)";
        var (_, _, ecx1, _) = X86Base.CpuId(1, 0);
        var (_, ebx7, _, _) = X86Base.CpuId(7, 0);
        if ((ebx7 & (1 << 16)) == 0) return "this CPU does not support AVX-512";
        if ((ecx1 & (1 << 27)) == 0) return "the OS does not enable XSAVE, so AVX-512 state is not saved";
        const ulong zmmState = 0xE6;  // XCR0: SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
        if ((ReadXcr0() & zmmState) != zmmState) return "the OS does not save the AVX-512 registers (XCR0)";
        return null;
    }

    /// <summary>XCR0 through a 13-byte stub (no intrinsic exists):
    /// xor ecx, ecx (31 C9); xgetbv (0F 01 D0); shl rdx, 32 (48 C1 E2 20); or rax, rdx (48 09 D0); ret (C3).</summary>
    private static ulong ReadXcr0()
    {
        byte[] code = [0x31, 0xC9, 0x0F, 0x01, 0xD0, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3];
        var xgetbv = (delegate* unmanaged<ulong>)ExecutableMemory.Map(code);
        return xgetbv();
    }
}
