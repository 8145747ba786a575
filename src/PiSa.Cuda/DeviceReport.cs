using System.Globalization;
using System.Text;
using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// The CUDA part of `pisa doctor`: what GPU, driver and libraries this process sees, as label/value
/// lines. Never throws: anything missing becomes a line that says so and why.
/// </summary>
public static class DeviceReport
{
    /// <summary>One line of the report. <paramref name="Ok"/> false marks a problem (or an absent optional part).</summary>
    public readonly record struct Line(string Label, string Value, bool Ok = true);

    /// <summary>GPU, driver, NVRTC, cuBLAS, cuBLASLt, NVTX and kernel cache lines.</summary>
    public static IReadOnlyList<Line> Collect()
    {
        var lines = new List<Line>();
        int driverVersion = 0;

        var (ok, reason) = CudaAvailability.Probe();
        if (!ok)
        {
            lines.Add(new("GPU", "none: " + reason, false));
        }
        else
        {
            try
            {
                using var ctx = CudaContext.Create();
                var (free, total) = ctx.MemoryInfo();
                driverVersion = ctx.DriverVersion;
                lines.Add(new("GPU", string.Create(CultureInfo.InvariantCulture,
                    $"{ctx.Name}, compute capability {ctx.ComputeMajor}.{ctx.ComputeMinor} ({ctx.SmArch}), {ctx.SmCount} SMs")));
                lines.Add(new("GPU memory", $"{GiB(total)} total, {GiB(free)} free"));
                lines.Add(new("CUDA driver", $"{ctx.DriverVersionText} ({NativeLibs.LoadedFrom(NativeLibs.Cuda)})"));
                // The other devices `--gpu N` can choose (device 0 is the one above).
                if (CuDriver.cuDeviceGetCount(out int count) == CUresult.CUDA_SUCCESS)
                    for (int i = 1; i < count; i++)
                        lines.Add(OtherDevice(i));
            }
            catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException)
            {
                lines.Add(new("GPU", "present but unusable: " + e.Message, false));
            }
        }

        if (KernelCompiler.Available)
        {
            var (maj, min) = KernelCompiler.NvrtcVersion;
            string note = "";
            if (driverVersion > 0 && maj * 1000 + min * 10 > driverVersion)
                note = $"; newer than the driver ({CudaContext.FormatVersion(driverVersion)}): use sm_XX (cubin) targets, its PTX will not load";
            lines.Add(new("NVRTC", $"{maj}.{min} ({KernelCompiler.NvrtcPath}){note}"));
        }
        else
        {
            lines.Add(new("NVRTC", "absent: " + KernelCompiler.UnavailableReason, false));
        }

        lines.Add(CublasLine());
        lines.Add(CublasLtLine());
        lines.Add(new("NVTX", Nvtx.Enabled ? $"enabled ({NativeLibs.LoadedFrom(NativeLibs.Nvtx)})" : "absent (profiling ranges off)"));
        lines.Add(CacheLine());
        return lines;
    }

    private static Line OtherDevice(int ordinal)
    {
        try
        {
            using var ctx = CudaContext.Create(ordinal);
            var (free, total) = ctx.MemoryInfo();
            return new($"GPU {ordinal}", string.Create(CultureInfo.InvariantCulture,
                $"{ctx.Name}, compute capability {ctx.ComputeMajor}.{ctx.ComputeMinor} ({ctx.SmArch}), {ctx.SmCount} SMs, {GiB(total)} total, {GiB(free)} free"));
        }
        catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException)
        {
            return new($"GPU {ordinal}", "present but unusable: " + e.Message, false);
        }
    }

    /// <summary>The report as aligned text, one line per item.</summary>
    public static string Build() => Format(Collect());

    public static string Format(IEnumerable<Line> lines)
    {
        var list = lines.ToList();
        int width = list.Count == 0 ? 0 : list.Max(l => l.Label.Length) + 1;
        var sb = new StringBuilder();
        foreach (var l in list)
            sb.Append((l.Label + ":").PadRight(width + 1)).Append(' ').Append(l.Value).Append('\n');
        return sb.ToString();
    }

    /// <summary>One line per kernel file of a <see cref="KernelCompiler.CompileAll"/> run: ok with registers/spills, or the error.</summary>
    public static IReadOnlyList<Line> KernelLines(IEnumerable<KernelCompileResult> results)
    {
        var lines = new List<Line>();
        foreach (var r in results)
        {
            if (!r.Ok)
            {
                lines.Add(new(r.Name, "FAILED: " + r.Error, false));
                continue;
            }
            var usage = r.Module!.Usage;
            var spilling = usage.Where(u => u.Spills).Select(u => u.Function).ToList();
            string detail = usage.Count == 0
                ? "ok"
                : $"ok, {usage.Count} kernels, max {usage.Max(u => u.Registers)} registers"
                  + (spilling.Count > 0 ? $", SPILLS in {string.Join(", ", spilling)}" : ", no spills");
            string cache = r.Module.Cache == CacheOutcome.Hit ? " (cached)" : "";
            lines.Add(new(r.Name, string.Create(CultureInfo.InvariantCulture, $"{detail}{cache}, {r.Elapsed.TotalSeconds:F2} s"), spilling.Count == 0));
        }
        return lines;
    }

    private static Line CublasLine()
    {
        try
        {
            if (!NativeLibs.TryLoad(NativeLibs.Cublas))
                return new("cuBLAS", "absent (libcublas.so.13/12/11 not found)", false);
            Cublas.cublasGetProperty(libraryPropertyType.MAJOR_VERSION, out int a);
            Cublas.cublasGetProperty(libraryPropertyType.MINOR_VERSION, out int b);
            Cublas.cublasGetProperty(libraryPropertyType.PATCH_LEVEL, out int c);
            return new("cuBLAS", $"{a}.{b}.{c} ({NativeLibs.LoadedFrom(NativeLibs.Cublas)})");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return new("cuBLAS", "unusable: " + e.Message, false);
        }
    }

    private static Line CublasLtLine()
    {
        try
        {
            if (!NativeLibs.TryLoad(NativeLibs.CublasLt))
                return new("cuBLASLt", "absent (libcublasLt.so.13/12/11 not found)", false);
            ulong v = CublasLt.cublasLtGetVersion();
            return new("cuBLASLt", $"{v / 10000}.{v / 100 % 100}.{v % 100} ({NativeLibs.LoadedFrom(NativeLibs.CublasLt)})");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return new("cuBLASLt", "unusable: " + e.Message, false);
        }
    }

    private static Line CacheLine()
    {
        var dir = KernelCompiler.Default.CacheDirectory;
        if (dir is null)
            return new("Kernel cache", $"off ({KernelCompiler.EnvCacheDir})");
        try
        {
            if (!Directory.Exists(dir))
                return new("Kernel cache", $"{dir} (empty)");
            var files = new DirectoryInfo(dir).GetFiles("*.kc");
            long bytes = files.Sum(f => f.Length);
            return new("Kernel cache", string.Create(CultureInfo.InvariantCulture, $"{dir} ({files.Length} entries, {bytes / 1e6:F1} MB)"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new("Kernel cache", $"{dir} (unreadable: {e.Message})", false);
        }
    }

    private static string GiB(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):F1} GiB");
}
