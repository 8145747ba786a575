using PiSa.Engine.Backends.Cpu;

namespace PiSa.Engine.Backends;

/// <summary>
/// Picks the backend for --device: "cpu"; "cuda" (fails with the probe's reason when no usable GPU);
/// "ptx" (the CUDA backend on the PTX interpreter: needs only NVRTC, no GPU; slow, fully checked);
/// "auto" (CUDA when usable, otherwise the CPU with a one-line notice through <paramref name="notice"/>).
/// </summary>
public static class BackendFactory
{
    /// <param name="gpu">The CUDA device ordinal for "cuda" and "auto" (`--gpu N`).</param>
    /// <param name="precision">Bf16 only with "cpu" (and a CPU with AVX512-BF16); otherwise a <see cref="PisaException"/>.</param>
    public static IOps Create(string device, Action<string>? notice = null, int gpu = 0, CpuPrecision precision = CpuPrecision.Fp32)
    {
        if (precision != CpuPrecision.Fp32 && device != "cpu")
            throw new PisaException($"bf16 precision runs on the CPU backend only (device cpu), not on device '{device}'");
        switch (device)
        {
            case "cpu":
                return new CpuOps(precision);
            case "cuda":
            {
                var (ops, reason) = TryCuda(gpu);
                return ops ?? throw new PisaException($"--device cuda: {reason}");
            }
            case "ptx":
                if (!PiSa.Cuda.KernelCompiler.Available)
                    throw new PisaException($"--device ptx: the interpreter runs the NVRTC-compiled kernels, and NVRTC is unavailable: {PiSa.Cuda.KernelCompiler.UnavailableReason}");
                return new Cuda.CudaOps(new Cuda.PtxGpuRuntime());
            case "auto":
            {
                var (ops, reason) = TryCuda(gpu);
                if (ops != null) return ops;
                notice?.Invoke($"no usable GPU ({reason}); running on the CPU");
                return new CpuOps();
            }
            default:
                throw new PisaException($"unknown device '{device}' (auto, cpu, cuda or ptx)");
        }
    }

    private static (IOps? Ops, string? Reason) TryCuda(int gpu) => Cuda.PiSaCudaRuntime.TryCreateOps(gpu);
}
