using System.Runtime.InteropServices;

namespace PiSa.Cuda.Native;

/// <summary>NVTX v2 ranges (libnvToolsExt.so.1, or libnvtx3interop.so.1 which exports the same names). Optional.</summary>
public static partial class NvtxNative
{
    private const string Lib = NativeLibs.Nvtx;

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int nvtxRangePushA(string message);

    [LibraryImport(Lib)]
    public static partial int nvtxRangePop();
}
