using PiSa.Cuda;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// A module the runtimes compile and load: a kernels/*.cu file, or a variant of one compiled with extra defines for
/// a newer target. "conv_pipe.cu+wgmma" is conv_pipe.cu with -DPISA_WGMMA=1, whose Hopper kernels use wgmma: on a
/// GPU it compiles only for sm_90a with NVRTC 12 or newer (CI's NVRTC 11.8 cannot), on the PTX interpreter for
/// compute_90 (NVRTC copies inline PTX into a compute_XX target unchecked, and the interpreter runs wgmma), so the
/// variant never reaches the sm_80/sm_90 compile of conv_pipe.cu itself.
/// </summary>
public readonly record struct KernelModule(string File, string? Variant)
{
    /// <summary>The variant that needs the Hopper tensor-core instructions.</summary>
    public const string WgmmaVariant = "wgmma";

    /// <summary>The virtual architecture the PTX interpreter compiles the wgmma variant for.</summary>
    public const string InterpreterHopperArch = "compute_90";

    /// <summary>The target a GPU of compute capability <paramref name="cc"/> compiles the wgmma variant for, or null
    /// where it cannot: wgmma exists on sm_90 only (not on later majors) and needs the arch-specific sm_90a target,
    /// new in NVRTC 12.0.</summary>
    public static string? GpuHopperArch(int cc) => cc == 90 && KernelCompiler.NvrtcVersion.Major >= 12 ? "sm_90a" : null;

    public static KernelModule Parse(string name)
    {
        int plus = name.IndexOf('+');
        if (plus < 0) return new KernelModule(name, null);
        string variant = name[(plus + 1)..];
        if (variant != WgmmaVariant) throw new PisaException($"kernel module {name}: unknown variant '{variant}'");
        return new KernelModule(name[..plus], variant);
    }

    public bool NeedsWgmma => Variant == WgmmaVariant;

    /// <summary>The NVRTC options beyond the architecture.</summary>
    public KernelCompileOptions Options => NeedsWgmma
        ? KernelCompileOptions.Default with { Extra = ["-DPISA_WGMMA=1"] }
        : KernelCompileOptions.Default;

    public override string ToString() => Variant is null ? File : $"{File}+{Variant}";
}
