using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// NVTX ranges for Nsight Systems timelines. A no-op when no NVTX library is found (the common case
/// outside profiling), so call sites need no checks:
/// <code>using (Nvtx.Range("unet.down0")) { ... }</code>
/// </summary>
public static class Nvtx
{
    private static readonly bool _enabled = Detect();

    public static bool Enabled => _enabled;

    private static bool Detect()
    {
        if (Environment.GetEnvironmentVariable("PISA_NVTX") == "0" || !NativeLibs.TryLoad(NativeLibs.Nvtx))
            return false;
        try
        {
            // Probe both entry points once; a library without them disables NVTX for good.
            NvtxNative.nvtxRangePushA("pisa");
            NvtxNative.nvtxRangePop();
            return true;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    public static void Push(string name)
    {
        if (_enabled)
            NvtxNative.nvtxRangePushA(name);
    }

    public static void Pop()
    {
        if (_enabled)
            NvtxNative.nvtxRangePop();
    }

    /// <summary>Pushes now, pops on dispose.</summary>
    public static Scope Range(string name)
    {
        Push(name);
        return new Scope();
    }

    public readonly struct Scope : IDisposable
    {
        public void Dispose() => Pop();
    }
}
