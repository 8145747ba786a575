using PiSa.Engine.Backends.Cpu;

namespace PiSa.Engine.Backends;

/// <summary>
/// Picks the backend for --device: "cpu"; "cuda" (fails with the probe's reason when no usable GPU);
/// "auto" (CUDA when usable, otherwise the CPU with a one-line notice through <paramref name="notice"/>).
/// </summary>
public static class BackendFactory
{
    /// <param name="gpu">The CUDA device ordinal for "cuda" and "auto" (`--gpu N`).</param>
    public static IOps Create(string device, Action<string>? notice = null, int gpu = 0)
    {
        switch (device)
        {
            case "cpu":
                return new CpuOps();
            case "cuda":
            {
                var (ops, reason) = TryCuda(gpu);
                return ops ?? throw new PisaException($"--device cuda: {reason}");
            }
            case "auto":
            {
                var (ops, reason) = TryCuda(gpu);
                if (ops != null) return ops;
                notice?.Invoke($"no usable GPU ({reason}); running on the CPU");
                return new CpuOps();
            }
            default:
                throw new PisaException($"unknown device '{device}' (auto, cpu or cuda)");
        }
    }

    private static (IOps? Ops, string? Reason) TryCuda(int gpu) => Cuda.PiSaCudaRuntime.TryCreateOps(gpu);
}
