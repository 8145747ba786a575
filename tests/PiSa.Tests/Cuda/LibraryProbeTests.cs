using PiSa.Cuda;
using PiSa.Cuda.Native;

namespace PiSa.Tests.Cuda;

public class LibraryProbeTests
{
    [Fact]
    public void Nvrtc_Order_IsEnvFolders_ThenSystemNames_ThenLateFolders_NewestFirst()
    {
        var c = LibraryProbe.Candidates(NativeLibs.Nvrtc, ["/a", "/b"], ["/late"]).ToList();
        Assert.Equal(
        [
            "/a/libnvrtc.so.13", "/a/libnvrtc.so.12", "/a/libnvrtc.so.11.2",
            "/b/libnvrtc.so.13", "/b/libnvrtc.so.12", "/b/libnvrtc.so.11.2",
            "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2",
            "/late/libnvrtc.so.13", "/late/libnvrtc.so.12", "/late/libnvrtc.so.11.2",
        ], c);
    }

    [Fact]
    public void EveryLogicalLibrary_HasItsNames()
    {
        Assert.Equal(["libcuda.so.1"], LibraryProbe.FileNames(NativeLibs.Cuda));
        Assert.Equal(["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"], LibraryProbe.FileNames(NativeLibs.CublasLt));
        Assert.Equal(["libcublas.so.13", "libcublas.so.12", "libcublas.so.11"], LibraryProbe.FileNames(NativeLibs.Cublas));
        Assert.Contains("libnvToolsExt.so.1", LibraryProbe.FileNames(NativeLibs.Nvtx));
        Assert.Empty(LibraryProbe.FileNames("libc"));
    }

    [Fact]
    public void EnvDirectories_SplitsOnColons_SkippingEmptyEntries()
    {
        Assert.Equal(["/x/lib", "/y"], LibraryProbe.EnvDirectories("/x/lib::/y:"));
        Assert.Empty(LibraryProbe.EnvDirectories(null));
        Assert.Empty(LibraryProbe.EnvDirectories(" "));
    }

    [Fact]
    public void LateDirectories_StartWithTheToolkit_AndFindPipWheels()
    {
        var late = LibraryProbe.LateDirectories().ToList();
        Assert.Equal(LibraryProbe.ToolkitDirectories, late.Take(LibraryProbe.ToolkitDirectories.Length));
        // Whatever wheels exist here must be real nvidia/*/lib folders.
        Assert.All(late.Skip(LibraryProbe.ToolkitDirectories.Length), d =>
        {
            Assert.Contains("/nvidia/", d);
            Assert.EndsWith("/lib", d);
        });
    }

    [NvrtcFact]
    public void Nvrtc_IsLoadedFromTheConfiguredFolder_WhenOneIsSet()
    {
        var env = LibraryProbe.EnvDirectories(Environment.GetEnvironmentVariable(LibraryProbe.EnvLibDirs));
        var from = NativeLibs.LoadedFrom(NativeLibs.Nvrtc);
        Assert.NotNull(from);
        if (env.Count > 0 && env.Any(d => LibraryProbe.FileNames(NativeLibs.Nvrtc).Any(n => File.Exists(Path.Combine(d, n)))))
            Assert.Contains(env, d => from!.StartsWith(d + "/", StringComparison.Ordinal));
    }

    [Fact]
    public void Probe_NeverThrows_AndExplainsAMissingGpu()
    {
        var (ok, reason) = CudaAvailability.Probe();
        if (!NativeLibs.TryLoad(NativeLibs.Cuda))
        {
            Assert.False(ok);
            Assert.Equal("no CUDA driver (libcuda.so.1 not found)", reason);
        }
        else if (!ok)
        {
            Assert.False(string.IsNullOrWhiteSpace(reason));
        }
        else
        {
            Assert.Equal("", reason);
        }
        Assert.Equal((ok, reason), CudaAvailability.Probe()); // cached, stable
    }

    [Fact]
    public void UnknownLibrary_IsNotLoaded()
    {
        Assert.False(NativeLibs.TryLoad("not_a_cuda_library"));
        Assert.Null(NativeLibs.LoadedFrom("not_a_cuda_library"));
    }
}
