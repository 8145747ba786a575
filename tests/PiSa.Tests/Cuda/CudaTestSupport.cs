using System.Runtime.CompilerServices;
using PiSa.Cuda;
using PiSa.Cuda.Native;

namespace PiSa.Tests.Cuda;

/// <summary>
/// Points the CUDA library probe at the repository's NVRTC cache (made by .ci/fetch-nvrtc.sh) when
/// PISA_CUDA_LIB_DIRS is not set, so `dotnet test` finds NVRTC after the script ran once.
/// Runs before any test, hence before any library is loaded.
/// </summary>
internal static class CudaTestSupport
{
#pragma warning disable CA2255 // must run before the first CUDA library load
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void UseRepoNvrtcCache()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(LibraryProbe.EnvLibDirs)))
            return;
        try
        {
            var lib = Path.Combine(FixturePaths.RepoRoot, ".cache", "cuda118", "lib");
            if (Directory.Exists(lib))
                Environment.SetEnvironmentVariable(LibraryProbe.EnvLibDirs, lib);
        }
        catch (InvalidOperationException)
        {
            // Not run from the repository: rely on the normal probe.
        }
    }

    /// <summary>A fresh folder under the temp directory, deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pisa-cuda-test-" + Guid.NewGuid().ToString("N"));

        public TempDir() => Directory.CreateDirectory(Path);

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>A fact that needs NVRTC; skipped, with the reason, when NVRTC cannot be loaded.</summary>
public sealed class NvrtcFactAttribute : FactAttribute
{
    public NvrtcFactAttribute()
    {
        if (!KernelCompiler.Available)
            Skip = "NVRTC unavailable: " + KernelCompiler.UnavailableReason + " (run: source .ci/fetch-nvrtc.sh)";
    }
}

/// <summary>A fact that needs a CUDA GPU; skipped with <see cref="CudaAvailability.Probe"/>'s reason otherwise.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        var (ok, reason) = CudaAvailability.Probe();
        if (!ok)
            Skip = "no usable GPU: " + reason;
    }
}

/// <summary>A fact that needs both a GPU and NVRTC.</summary>
public sealed class GpuNvrtcFactAttribute : FactAttribute
{
    public GpuNvrtcFactAttribute()
    {
        var (ok, reason) = CudaAvailability.Probe();
        if (!ok)
            Skip = "no usable GPU: " + reason;
        else if (!KernelCompiler.Available)
            Skip = "NVRTC unavailable: " + KernelCompiler.UnavailableReason;
    }
}

/// <summary>A fact that needs a GPU and cuBLASLt.</summary>
public sealed class GpuCublasFactAttribute : FactAttribute
{
    public GpuCublasFactAttribute()
    {
        var (ok, reason) = CudaAvailability.Probe();
        if (!ok)
            Skip = "no usable GPU: " + reason;
        else if (!CublasLtGemm.Available)
            Skip = "cuBLASLt not found (libcublasLt.so.13/12/11)";
    }
}
