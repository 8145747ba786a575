using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>A CUDA event, for timing (elapsed milliseconds between two records) or ordering streams.</summary>
public sealed class CudaEvent : IDisposable
{
    public nint Handle { get; private set; }

    private CudaEvent(nint h) => Handle = h;

    /// <summary>A new event; <paramref name="timing"/> false makes it cheaper for pure synchronisation.</summary>
    public static CudaEvent Create(bool timing = true)
    {
        CudaException.Check(CuDriver.cuEventCreate(out nint h, timing ? CuFlags.CU_EVENT_DEFAULT : CuFlags.CU_EVENT_DISABLE_TIMING),
            "cuEventCreate");
        return new CudaEvent(h);
    }

    public void Record(CudaStream stream) => Record(stream.Handle);

    public void Record(nint stream) => CudaException.Check(CuDriver.cuEventRecord(Handle, stream), "cuEventRecord");

    public void Synchronize() => CudaException.Check(CuDriver.cuEventSynchronize(Handle), "cuEventSynchronize");

    /// <summary>Milliseconds from <paramref name="start"/> to <paramref name="end"/> (both recorded; waits for end).</summary>
    public static float ElapsedMs(CudaEvent start, CudaEvent end)
    {
        end.Synchronize();
        CudaException.Check(CuDriver.cuEventElapsedTime(out float ms, start.Handle, end.Handle), "cuEventElapsedTime");
        return ms;
    }

    public void Dispose()
    {
        if (Handle != 0)
        {
            CuDriver.cuEventDestroy_v2(Handle);
            Handle = 0;
        }
    }
}
