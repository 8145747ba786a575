namespace PiSa.Cuda;

/// <summary>How the on-disk cache took part in a compile.</summary>
public enum CacheOutcome
{
    /// <summary>No cache directory configured.</summary>
    Disabled,
    /// <summary>Compiled, and the result stored.</summary>
    Miss,
    /// <summary>Read from the cache; NVRTC not called.</summary>
    Hit,
    /// <summary>A cache entry existed but failed its checks: it was discarded, compiled again and rewritten.</summary>
    CorruptRecompiled,
}

/// <summary>The output of one NVRTC compile: a cubin (sm_XX target) or PTX (compute_XX target) and the log.</summary>
public sealed class CompiledModule
{
    public required string Name { get; init; }
    public required string Arch { get; init; }

    /// <summary>The cubin (ELF) or NUL-terminated PTX, ready for <see cref="CudaModule.Load(ReadOnlySpan{byte}, string)"/>.</summary>
    public required byte[] Image { get; init; }

    public required bool IsCubin { get; init; }

    /// <summary>NVRTC's log (warnings; ptxas -v info for cubin targets).</summary>
    public required string Log { get; init; }

    /// <summary>Per-kernel registers/spills parsed from the log (empty for PTX targets).</summary>
    public IReadOnlyList<KernelResourceUsage> Usage => _usage ??= PtxasInfoParser.Parse(Log);
    private IReadOnlyList<KernelResourceUsage>? _usage;

    public CacheOutcome Cache { get; init; }

    /// <summary>The PTX text (only when <see cref="IsCubin"/> is false).</summary>
    public string Ptx => IsCubin ? throw new InvalidOperationException($"{Name} was compiled to a cubin, not PTX")
        : System.Text.Encoding.UTF8.GetString(Image).TrimEnd('\0');
}

/// <summary>One kernel file's result in <see cref="KernelCompiler.CompileAll"/>: a module or the error.</summary>
public sealed record KernelCompileResult(string Name, CompiledModule? Module, string? Error, TimeSpan Elapsed)
{
    public bool Ok => Module is not null;
}
