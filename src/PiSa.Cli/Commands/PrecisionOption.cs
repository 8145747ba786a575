using System.CommandLine;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cpu.Bf16;

namespace PiSa.Cli.Commands;

/// <summary>The shared --precision option: fp32 (the reference) or bf16 (CPU backend with AVX512-BF16, opt-in).</summary>
public static class PrecisionOption
{
    public static Option<string> Create()
        => Choices.Create("--precision", "fp32 (default, the reference) or bf16 (CPU only, needs AVX512-BF16: conv and linear GEMMs in bf16 with float32 sums, about twice as fast)",
            "fp32", "fp32", "bf16");

    /// <summary>The precision for this device, or a usage error (exit 2) saying why bf16 cannot run here.</summary>
    public static CpuPrecision Resolve(string precision, string device)
    {
        if (precision != "bf16") return CpuPrecision.Fp32;
        if (device != "cpu")
            throw new UsageException($"--precision bf16 runs on the CPU backend only: add --device cpu (not --device {device})");
        if (Bf16Support.UnavailableReason() is string why)
            throw new UsageException($"--precision bf16: {why}; use --precision fp32");
        return CpuPrecision.Bf16;
    }
}
