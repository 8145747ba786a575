using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// Compiles CUDA C++ sources with NVRTC: <c>sm_XX</c> targets give a cubin (ptxas runs, inline PTX is
/// checked, registers/spills are reported), <c>compute_XX</c> targets give PTX for the driver to JIT.
/// Results are cached on disk (see <see cref="KernelCache"/>) under <see cref="DefaultCacheDirectory"/>
/// for <see cref="Default"/>. Always passes <c>-std=c++17</c>.
/// </summary>
public sealed unsafe class KernelCompiler
{
    public const string EnvCacheDir = "PISA_KERNEL_CACHE";

    private readonly KernelCache? _cache;

    /// <param name="cacheDirectory">Folder for the on-disk cache, or null for no cache.</param>
    public KernelCompiler(string? cacheDirectory) =>
        _cache = string.IsNullOrEmpty(cacheDirectory) ? null : new KernelCache(cacheDirectory);

    /// <summary>The compiler with the default cache folder (or none when <c>PISA_KERNEL_CACHE=off</c>).</summary>
    public static KernelCompiler Default => _default ??= new KernelCompiler(DefaultCacheDirectory());
    private static KernelCompiler? _default;

    public string? CacheDirectory => _cache?.Directory;

    /// <summary><c>$PISA_KERNEL_CACHE</c>, else <c>~/.cache/pisa/kernels</c>; null when the variable is "off" or "0".</summary>
    public static string? DefaultCacheDirectory()
    {
        var env = Environment.GetEnvironmentVariable(EnvCacheDir);
        if (env is "off" or "0" or "none")
            return null;
        if (!string.IsNullOrWhiteSpace(env))
            return env;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (string.IsNullOrEmpty(home))
            home = Path.GetTempPath();
        return Path.Combine(home, ".cache", "pisa", "kernels");
    }

    private static readonly Lazy<(bool Ok, string Reason, int Major, int Minor)> Probe = new(ProbeNvrtc);

    /// <summary>True when NVRTC loads and answers.</summary>
    public static bool Available => Probe.Value.Ok;

    /// <summary>Why NVRTC is unavailable ("" when available).</summary>
    public static string UnavailableReason => Probe.Value.Reason;

    /// <summary>NVRTC's version, e.g. (11, 8); (0, 0) when unavailable.</summary>
    public static (int Major, int Minor) NvrtcVersion => (Probe.Value.Major, Probe.Value.Minor);

    /// <summary>The file NVRTC was loaded from.</summary>
    public static string? NvrtcPath => NativeLibs.LoadedFrom(NativeLibs.Nvrtc);

    private static (bool, string, int, int) ProbeNvrtc()
    {
        try
        {
            if (!NativeLibs.TryLoad(NativeLibs.Nvrtc))
                return (false, $"NVRTC not found (libnvrtc.so.13/12/11.2; set {LibraryProbe.EnvLibDirs} to its folder)", 0, 0);
            var r = Nvrtc.nvrtcVersion(out int major, out int minor);
            return r == nvrtcResult.NVRTC_SUCCESS ? (true, "", major, minor) : (false, $"nvrtcVersion failed: {r}", 0, 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return (false, $"NVRTC unusable: {e.Message}", 0, 0);
        }
    }

    /// <summary>The virtual architectures NVRTC accepts, e.g. [50, 52, ..., 90].</summary>
    public static int[] SupportedArchs()
    {
        if (!Available)
            return [];
        CudaException.Check(Nvrtc.nvrtcGetNumSupportedArchs(out int n), "nvrtcGetNumSupportedArchs");
        var a = new int[n];
        fixed (int* p = a)
            CudaException.Check(Nvrtc.nvrtcGetSupportedArchs(p), "nvrtcGetSupportedArchs");
        return a;
    }

    /// <summary>True for "sm_80"-style targets (cubin), false for "compute_80" (PTX).</summary>
    public static bool IsCubinTarget(string arch)
    {
        if (arch.StartsWith("sm_", StringComparison.Ordinal))
            return true;
        if (arch.StartsWith("compute_", StringComparison.Ordinal))
            return false;
        throw new ArgumentException($"target architecture '{arch}' is neither sm_XX (cubin) nor compute_XX (PTX)", nameof(arch));
    }

    /// <summary>The complete NVRTC option list for a target (what the cache key covers).</summary>
    public static IReadOnlyList<string> BuildOptions(string arch, KernelCompileOptions? options = null)
    {
        options ??= KernelCompileOptions.Default;
        bool cubin = IsCubinTarget(arch);
        var o = new List<string> { $"--gpu-architecture={arch}", "-std=c++17" };
        if (options.FastMath) o.Add("--use_fast_math");
        if (options.LineInfo) o.Add("-lineinfo");
        if (cubin && options.PtxasVerbose) o.Add("--ptxas-options=-v");
        o.AddRange(options.Extra);
        return o;
    }

    /// <summary>
    /// Compiles <paramref name="source"/> (named <paramref name="name"/> in messages) for <paramref name="arch"/>.
    /// Throws <see cref="CompileException"/> with NVRTC's log when the source does not compile.
    /// </summary>
    public CompiledModule Compile(string name, string source, string arch, KernelCompileOptions? options = null)
    {
        if (!Available)
            throw new InvalidOperationException($"cannot compile {name}: {UnavailableReason}");
        bool cubin = IsCubinTarget(arch);
        var opts = BuildOptions(arch, options);

        var outcome = CacheOutcome.Disabled;
        byte[]? key = null;
        if (_cache is not null)
        {
            key = KernelCache.Key(source, opts, arch, $"{NvrtcVersion.Major}.{NvrtcVersion.Minor}");
            switch (_cache.TryRead(key, out bool cachedCubin, out string cachedLog, out byte[] cachedImage))
            {
                case KernelCache.ReadStatus.Hit when cachedCubin == cubin:
                    return new CompiledModule
                    {
                        Name = name, Arch = arch, Image = cachedImage, IsCubin = cubin, Log = cachedLog, Cache = CacheOutcome.Hit,
                    };
                case KernelCache.ReadStatus.Corrupt:
                    outcome = CacheOutcome.CorruptRecompiled;
                    break;
                default:
                    outcome = CacheOutcome.Miss;
                    break;
            }
        }

        var (image, log) = CompileWithNvrtc(name, source, arch, cubin, opts);
        _cache?.Write(key!, cubin, log, image);
        return new CompiledModule { Name = name, Arch = arch, Image = image, IsCubin = cubin, Log = log, Cache = outcome };
    }

    /// <summary>
    /// Compiles every source (in parallel), never throwing for a source that fails: each result has the
    /// module or the error. For `pisa doctor` and the kernel tests.
    /// </summary>
    public IReadOnlyList<KernelCompileResult> CompileAll(IEnumerable<(string name, string source)> sources, string arch,
        KernelCompileOptions? options = null)
    {
        var list = sources.ToList();
        var results = new KernelCompileResult[list.Count];
        Parallel.For(0, list.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, i =>
        {
            var (name, source) = list[i];
            var sw = Stopwatch.StartNew();
            try
            {
                results[i] = new KernelCompileResult(name, Compile(name, source, arch, options), null, sw.Elapsed);
            }
            catch (Exception e) when (e is CompileException or CudaException or InvalidOperationException or ArgumentException)
            {
                results[i] = new KernelCompileResult(name, null, e.Message, sw.Elapsed);
            }
        });
        return results;
    }

    private static (byte[] Image, string Log) CompileWithNvrtc(string name, string source, string arch, bool cubin, IReadOnlyList<string> opts)
    {
        string programName = name.EndsWith(".cu", StringComparison.Ordinal) ? name : name + ".cu";
        CudaException.Check(Nvrtc.nvrtcCreateProgram(out nint prog, source, programName, 0, null, null), "nvrtcCreateProgram", name);
        var optBytes = opts.Select(o => Marshal.StringToCoTaskMemUTF8(o)).ToArray();
        try
        {
            nvrtcResult compiled;
            fixed (nint* po = optBytes)
                compiled = Nvrtc.nvrtcCompileProgram(prog, optBytes.Length, (byte**)po);
            string log = ReadLog(prog);
            if (compiled == nvrtcResult.NVRTC_ERROR_COMPILATION)
                throw new CompileException(name, arch, log, CompileException.FirstError(log));
            if (compiled != nvrtcResult.NVRTC_SUCCESS)
                throw new CompileException(name, arch, log, $"{compiled} ({CudaErrors.Describe(compiled)}); options: {string.Join(' ', opts)}");
            return (cubin ? ReadCubin(prog, name) : ReadPtx(prog, name), log);
        }
        finally
        {
            foreach (var p in optBytes)
                Marshal.FreeCoTaskMem(p);
            Nvrtc.nvrtcDestroyProgram(ref prog);
        }
    }

    private static string ReadLog(nint prog)
    {
        if (Nvrtc.nvrtcGetProgramLogSize(prog, out nuint n) != nvrtcResult.NVRTC_SUCCESS || n <= 1)
            return "";
        var buf = new byte[(int)n];
        fixed (byte* p = buf)
            if (Nvrtc.nvrtcGetProgramLog(prog, p) != nvrtcResult.NVRTC_SUCCESS)
                return "";
        // NVRTC 11.8 leaves a NUL between its own and ptxas' part of the log: drop every NUL.
        return Encoding.UTF8.GetString(buf).Replace("\0", "", StringComparison.Ordinal);
    }

    private static byte[] ReadCubin(nint prog, string name)
    {
        CudaException.Check(Nvrtc.nvrtcGetCUBINSize(prog, out nuint n), "nvrtcGetCUBINSize", name);
        if (n == 0)
            throw new CudaException("nvrtcGetCUBIN", "empty", 0, "NVRTC produced no cubin", name);
        var buf = new byte[(int)n];
        fixed (byte* p = buf)
            CudaException.Check(Nvrtc.nvrtcGetCUBIN(prog, p), "nvrtcGetCUBIN", name);
        return buf;
    }

    private static byte[] ReadPtx(nint prog, string name)
    {
        CudaException.Check(Nvrtc.nvrtcGetPTXSize(prog, out nuint n), "nvrtcGetPTXSize", name);
        var buf = new byte[(int)n]; // includes the NUL terminator cuModuleLoadData wants
        fixed (byte* p = buf)
            CudaException.Check(Nvrtc.nvrtcGetPTX(prog, p), "nvrtcGetPTX", name);
        return buf;
    }
}
