using System.Reflection;
using System.Runtime.InteropServices;
using PiSa.Cuda.Native;

namespace PiSa.Tests.Cuda;

/// <summary>
/// Every bound function must exist in the library it is bound to (a misspelt or wrongly versioned name
/// would only fail at the first call, possibly deep inside a run). Checked for whichever libraries load
/// here: NVRTC on CI, the driver too when PISA_FETCH_LIBCUDA=1 fetched one, everything on the GPU machine.
/// </summary>
public class BindingExportTests
{
    public static TheoryData<string> Libraries => new() { NativeLibs.Nvrtc, NativeLibs.Cuda, NativeLibs.CublasLt, NativeLibs.Cublas, NativeLibs.Nvtx };

    [Theory]
    [MemberData(nameof(Libraries))]
    public void EveryImport_IsExported(string logical)
    {
        var type = logical switch
        {
            NativeLibs.Nvrtc => typeof(Nvrtc),
            NativeLibs.Cuda => typeof(CuDriver),
            NativeLibs.CublasLt => typeof(CublasLt),
            NativeLibs.Cublas => typeof(Cublas),
            _ => typeof(NvtxNative),
        };
        var names = type.GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.GetCustomAttribute<LibraryImportAttribute>() is not null)
            .Select(m => m.GetCustomAttribute<LibraryImportAttribute>()!.EntryPoint ?? m.Name)
            .ToList();
        Assert.NotEmpty(names);
        Assert.All(names, n => Assert.Matches("^(cu|nvrtc|cublas|nvtx)[A-Za-z0-9_]+$", n));

        var path = NativeLibs.LoadedFrom(logical);
        if (path is null)
            return; // not installed here: nothing to check against
        var handle = NativeLibrary.Load(path);
        var missing = names.Where(n => !NativeLibrary.TryGetExport(handle, n, out _)).ToList();
        Assert.True(missing.Count == 0, $"{path} lacks: {string.Join(", ", missing)}");
    }
}
