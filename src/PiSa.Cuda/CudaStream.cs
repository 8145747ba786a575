using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>A CUDA stream. <see cref="Legacy"/> is the default (NULL) stream, which is never destroyed.</summary>
public sealed class CudaStream : IDisposable
{
    public nint Handle { get; private set; }
    private readonly bool _owned;

    private CudaStream(nint handle, bool owned)
    {
        Handle = handle;
        _owned = owned;
    }

    /// <summary>The legacy default stream (handle 0).</summary>
    public static CudaStream Legacy { get; } = new(0, owned: false);

    /// <summary>A new stream; non-blocking (does not synchronise with the NULL stream) by default.</summary>
    public static CudaStream Create(bool nonBlocking = true)
    {
        CudaException.Check(CuDriver.cuStreamCreate(out nint h, nonBlocking ? CuFlags.CU_STREAM_NON_BLOCKING : CuFlags.CU_STREAM_DEFAULT),
            "cuStreamCreate");
        return new CudaStream(h, owned: true);
    }

    /// <summary>Blocks the host until all work queued on the stream is done.</summary>
    public void Synchronize() => CudaException.Check(CuDriver.cuStreamSynchronize(Handle), "cuStreamSynchronize");

    /// <summary>Makes later work on this stream wait for <paramref name="e"/>.</summary>
    public void Wait(CudaEvent e) => CudaException.Check(CuDriver.cuStreamWaitEvent(Handle, e.Handle, 0), "cuStreamWaitEvent");

    public void Dispose()
    {
        if (_owned && Handle != 0)
        {
            CuDriver.cuStreamDestroy_v2(Handle);
            Handle = 0;
        }
    }
}
