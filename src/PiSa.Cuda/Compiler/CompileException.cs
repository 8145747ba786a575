namespace PiSa.Cuda;

/// <summary>NVRTC rejected a kernel source. <see cref="Log"/> holds NVRTC's full log.</summary>
public sealed class CompileException : Exception
{
    public string KernelName { get; }
    public string Arch { get; }
    public string Log { get; }

    public CompileException(string kernelName, string arch, string log, string reason)
        : base($"NVRTC could not compile {kernelName} for {arch}: {reason}")
    {
        KernelName = kernelName;
        Arch = arch;
        Log = log;
    }

    /// <summary>The first line of the log that names an error, for a one-line message.</summary>
    internal static string FirstError(string log)
    {
        foreach (var line in log.Split('\n'))
        {
            var t = line.Trim();
            if (t.Contains("error", StringComparison.OrdinalIgnoreCase))
                return t;
        }
        var first = log.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim();
        return string.IsNullOrEmpty(first) ? "no log" : first;
    }
}
