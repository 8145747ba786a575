using System.CommandLine;
using PiSa.Cuda;
using PiSa.Engine.Backends.Cuda;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa doctor`: what this machine offers the CUDA backend (GPU, driver, NVRTC, cuBLAS/cuBLASLt, kernel cache)
/// and whether every kernel compiles for this GPU (or, without one, for sm_80 and sm_90). Exit 0 when a GPU is
/// usable and every kernel compiles; 1 otherwise (the report still prints in full).
/// </summary>
public static class DoctorCommand
{
    public static Command Build()
    {
        var cmd = new Command("doctor", "Report the GPU, driver, NVRTC and cuBLAS versions and check that every kernel compiles.");
        cmd.SetAction(_ => Run(Console.Out));
        return cmd;
    }

    public static int Run(TextWriter o)
    {
        var lines = DeviceReport.Collect().ToList();
        lines.AddRange(CpuLines());
        bool gpuOk = CudaAvailability.Probe().Ok;
        bool kernelsOk = false;
        if (KernelCompiler.Available)
        {
            string[] archs = TargetArchs(gpuOk);
            kernelsOk = true;
            foreach (var arch in archs)
            {
                var results = KernelCompiler.Default.CompileAll(KernelSources.All(), arch);
                kernelsOk &= results.All(r => r.Module != null);
                foreach (var l in DeviceReport.KernelLines(results))
                    lines.Add(l with { Label = $"{l.Label} ({arch})" });
            }
            kernelsOk &= AddWgmmaLines(lines, archs);
        }
        lines.Add(GraphsLine());
        o.Write(DeviceReport.Format(lines));
        o.WriteLine(gpuOk && kernelsOk ? "doctor: the CUDA backend can run here"
            : kernelsOk ? "doctor: every kernel compiles, but no usable GPU: the CPU backend will run; `--device ptx` runs the CUDA backend's kernels on the PTX interpreter here (slow, fully checked)"
            : "doctor: the CUDA backend cannot run here (see the lines above)");
        return gpuOk && kernelsOk ? 0 : 1;
    }

    /// <summary>
    /// The wgmma module (conv_pipe.cu's Hopper tile, <see cref="KernelModule"/>): on an sm_90 GPU with NVRTC 12+ it
    /// is compiled for sm_90a, the target the backend will use; elsewhere for the PTX interpreter's compute_90, with
    /// a line saying why a GPU here would not use it. False when it does not compile.
    /// </summary>
    private static bool AddWgmmaLines(List<DeviceReport.Line> lines, string[] archs)
    {
        var module = KernelModule.Parse(LaunchMath.ConvWgmmaModule);
        var (major, minor) = KernelCompiler.NvrtcVersion;
        string? gpuArch = archs is ["sm_90"] ? KernelModule.GpuHopperArch(90) : null;
        bool hopper = gpuArch is not null;
        string arch = gpuArch ?? KernelModule.InterpreterHopperArch;
        var results = KernelCompiler.Default.CompileAll([(module.ToString(), KernelSources.Get(module.File))], arch, module.Options);
        foreach (var l in DeviceReport.KernelLines(results))
            lines.Add(l with { Label = $"{l.Label} ({arch}{(hopper ? "" : ", PTX interpreter")})" });
        lines.Add(new("conv wgmma tiles", hopper
            ? $"used on this GPU unless {PiSaCudaRuntime.EnvWgmma}=off"
            : $"not used here: needs an sm_90 GPU and NVRTC 12 or newer (NVRTC {major}.{minor}{(archs.Length == 1 ? $", GPU {archs[0]}" : ", no GPU")})"));
        return results.All(r => r.Module != null);
    }

    /// <summary>Whether the CUDA backend records graphs in this environment (informational: off by default).</summary>
    private static DeviceReport.Line GraphsLine() => new("CUDA graphs", Environment.GetEnvironmentVariable(CudaOps.EnvGraphs) == "1"
        ? $"on ({CudaOps.EnvGraphs}=1): the UNet and untiled VAE passes are recorded and replayed"
        : $"off (set {CudaOps.EnvGraphs}=1, or compare with `pisa bench --graphs both`)");

    /// <summary>Which GEMM micro-kernels the CPU backend runs here (informational: the CPU backend always runs).</summary>
    private static IEnumerable<DeviceReport.Line> CpuLines()
    {
        string? avx512 = Engine.Backends.Cpu.X64.Avx512Support.UnavailableReason();
        yield return new("CPU float32 GEMM", avx512 == null ? "512-bit kernel (AVX-512)" : $"256-bit kernel (AVX2/FMA; AVX-512: {avx512})");
        string? bf16 = Engine.Backends.Cpu.Bf16.Bf16Support.UnavailableReason();
        yield return new("CPU --precision bf16", bf16 == null ? "available (AVX512-BF16)" : $"unavailable: {bf16}");
    }

    /// <summary>This GPU's architecture when one is usable; otherwise the two CI targets.</summary>
    private static string[] TargetArchs(bool gpuOk)
    {
        if (gpuOk)
        {
            try
            {
                using var ctx = CudaContext.Create();
                return [ctx.SmArch];
            }
            catch (CudaException) { }
        }
        return ["sm_80", "sm_90"];
    }
}
