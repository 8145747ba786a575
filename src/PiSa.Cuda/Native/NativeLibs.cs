using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PiSa.Cuda.Native;

/// <summary>
/// Logical library names used in every <c>[LibraryImport]</c> of this assembly, and the resolver that
/// maps them to real files (see <see cref="LibraryProbe"/> for the order). A library that cannot be
/// found makes the first call throw <see cref="DllNotFoundException"/>; use <see cref="TryLoad"/> first.
/// </summary>
public static class NativeLibs
{
    public const string Cuda = "pisa_cuda";
    public const string Nvrtc = "pisa_nvrtc";
    public const string CublasLt = "pisa_cublaslt";
    public const string Cublas = "pisa_cublas";
    public const string Nvtx = "pisa_nvtx";

    private static readonly ConcurrentDictionary<string, LoadResult> Loaded = new();
    private static readonly object Gate = new();

    private sealed record LoadResult(nint Handle, string? Path);

    // A module initializer is the one place that runs before any [LibraryImport] of this assembly can.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(NativeLibs).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // Already set (only one resolver per assembly): keep the first.
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        LibraryProbe.FileNames(name).Count == 0 ? 0 : Load(name).Handle;

    /// <summary>Loads (once) the logical library; true when found.</summary>
    public static bool TryLoad(string logical) => Load(logical).Handle != 0;

    /// <summary>The file the logical library was loaded from (bare name when the system loader found it), or null.</summary>
    public static string? LoadedFrom(string logical) => Load(logical).Path;

    private static LoadResult Load(string logical)
    {
        if (Loaded.TryGetValue(logical, out var r))
            return r;
        lock (Gate)
        {
            if (Loaded.TryGetValue(logical, out r))
                return r;
            r = Probe(logical);
            Loaded[logical] = r;
            return r;
        }
    }

    private static LoadResult Probe(string logical)
    {
        var envDirs = LibraryProbe.EnvDirectories(Environment.GetEnvironmentVariable(LibraryProbe.EnvLibDirs));
        foreach (var candidate in LibraryProbe.Candidates(logical, envDirs, LibraryProbe.LateDirectories()))
        {
            bool isPath = candidate.Contains('/');
            if (isPath && !File.Exists(candidate))
                continue;
            if (isPath)
                PreloadCompanions(logical, Path.GetDirectoryName(candidate)!);
            if (NativeLibrary.TryLoad(candidate, out var h))
                return new LoadResult(h, candidate);
        }
        return new LoadResult(0, null);
    }

    /// <summary>
    /// A library loaded by absolute path from a folder the system loader does not search cannot find its
    /// siblings: NVRTC needs libnvrtc-builtins, cuBLAS needs cuBLASLt. Loading them first from the same
    /// folder makes the later dlopen find them by soname.
    /// </summary>
    private static void PreloadCompanions(string logical, string dir)
    {
        IEnumerable<string> companions = logical switch
        {
            Nvrtc => SafeFiles(dir, "libnvrtc-builtins.so.*").OrderByDescending(f => f, StringComparer.Ordinal),
            Cublas => LibraryProbe.FileNames(CublasLt).Select(n => Path.Combine(dir, n)).Where(File.Exists),
            _ => [],
        };
        foreach (var c in companions)
            NativeLibrary.TryLoad(c, out _);
    }

    private static IEnumerable<string> SafeFiles(string dir, string pattern)
    {
        try
        {
            return Directory.Exists(dir) ? Directory.GetFiles(dir, pattern) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
