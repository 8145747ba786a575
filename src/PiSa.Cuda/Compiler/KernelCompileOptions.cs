namespace PiSa.Cuda;

/// <summary>NVRTC options beyond the target architecture.</summary>
public sealed record KernelCompileOptions
{
    /// <summary><c>--use_fast_math</c> (approximate division, exp, etc.).</summary>
    public bool FastMath { get; init; }

    /// <summary><c>-lineinfo</c>: source lines in profilers, no cost at run time.</summary>
    public bool LineInfo { get; init; } = true;

    /// <summary><c>--ptxas-options=-v</c> for cubin targets: registers and spills land in the log.</summary>
    public bool PtxasVerbose { get; init; } = true;

    /// <summary>Any further NVRTC options (e.g. <c>-DBLOCK=128</c>, <c>--maxrregcount=128</c>).</summary>
    public IReadOnlyList<string> Extra { get; init; } = [];

    public static KernelCompileOptions Default { get; } = new();
}
