namespace PiSa.Cuda.Native;

/// <summary>
/// The ordered list of places a CUDA library is looked for. Pure (no loading), so the order is testable.
/// Order: every folder of <c>PISA_CUDA_LIB_DIRS</c> (colon-separated), then the bare names (the system
/// loader: LD_LIBRARY_PATH, ldconfig cache), then the usual toolkit folders, then pip CUDA wheels
/// (<c>site-packages/nvidia/*/lib</c>) because the GPU machine has PyTorch's wheels but maybe no toolkit.
/// Within each place, newest major version first.
/// </summary>
public static class LibraryProbe
{
    public const string EnvLibDirs = "PISA_CUDA_LIB_DIRS";

    /// <summary>File names per logical library, newest first.</summary>
    public static IReadOnlyList<string> FileNames(string logical) => logical switch
    {
        NativeLibs.Cuda => ["libcuda.so.1"],
        NativeLibs.Nvrtc => ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"],
        NativeLibs.CublasLt => ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"],
        NativeLibs.Cublas => ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11"],
        NativeLibs.Nvtx => ["libnvToolsExt.so.1", "libnvtx3interop.so.1"],
        _ => [],
    };

    /// <summary>Folders from the environment variable, in the order given; empty entries are skipped.</summary>
    public static IReadOnlyList<string> EnvDirectories(string? envValue) =>
        string.IsNullOrWhiteSpace(envValue)
            ? []
            : envValue.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Toolkit folders that the system loader often does not know about.</summary>
    public static readonly string[] ToolkitDirectories =
    [
        "/usr/local/cuda/lib64",
        "/usr/local/cuda/targets/x86_64-linux/lib",
        "/usr/lib/x86_64-linux-gnu",
    ];

    /// <summary>
    /// Candidates for <paramref name="logical"/>: absolute paths (folder + file) and bare names (to
    /// be resolved by the system loader). <paramref name="lateDirs"/> is consulted only after the bare names.
    /// </summary>
    public static IEnumerable<string> Candidates(string logical, IReadOnlyList<string> envDirs, IEnumerable<string> lateDirs)
    {
        var names = FileNames(logical);
        foreach (var dir in envDirs)
            foreach (var n in names)
                yield return Path.Combine(dir, n);
        foreach (var n in names)
            yield return n;
        foreach (var dir in lateDirs)
            foreach (var n in names)
                yield return Path.Combine(dir, n);
    }

    /// <summary>Toolkit folders, then pip wheel folders (<c>nvidia/*/lib</c> under any Python's site-packages).</summary>
    public static IEnumerable<string> LateDirectories()
    {
        foreach (var d in ToolkitDirectories)
            yield return d;
        foreach (var d in PythonWheelLibDirectories())
            yield return d;
    }

    /// <summary>
    /// <c>.../python3.X/{site,dist}-packages/nvidia/*/lib</c> under the usual prefixes, the active venv
    /// and conda. CUDA 13 wheels put everything in <c>nvidia/cu13/lib</c>, so it comes first.
    /// </summary>
    public static IEnumerable<string> PythonWheelLibDirectories()
    {
        var prefixes = new List<string> { "/usr/local/lib", "/usr/lib", "/opt/conda/lib" };
        foreach (var env in new[] { "VIRTUAL_ENV", "CONDA_PREFIX" })
            if (Environment.GetEnvironmentVariable(env) is { Length: > 0 } p)
                prefixes.Insert(0, Path.Combine(p, "lib"));
        var home = Environment.GetEnvironmentVariable("HOME");
        if (!string.IsNullOrEmpty(home))
            prefixes.Add(Path.Combine(home, ".local", "lib"));

        var seen = new HashSet<string>();
        foreach (var prefix in prefixes)
        {
            foreach (var py in SafeDirs(prefix, "python3*"))
            {
                foreach (var pkgs in new[] { "site-packages", "dist-packages" })
                {
                    var nvidia = Path.Combine(py, pkgs, "nvidia");
                    if (!Directory.Exists(nvidia))
                        continue;
                    var libs = SafeDirs(nvidia, "*")
                        .Select(d => Path.Combine(d, "lib"))
                        .Where(Directory.Exists)
                        .OrderBy(d => d.Contains("/nvidia/cu1", StringComparison.Ordinal) ? 0 : 1)
                        .ThenByDescending(d => d, StringComparer.Ordinal);
                    foreach (var lib in libs)
                        if (seen.Add(lib))
                            yield return lib;
                }
            }
        }
    }

    private static IEnumerable<string> SafeDirs(string dir, string pattern)
    {
        try
        {
            return Directory.Exists(dir) ? Directory.GetDirectories(dir, pattern) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
