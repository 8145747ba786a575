using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// Stream capture into an executable CUDA graph: record one forward pass once, replay it with a single
/// launch. Everything captured must use pre-allocated memory (see <see cref="DevicePool"/>) and must
/// not synchronise the host; host-to-device copies from managed arrays must not be captured (the graph
/// would keep the array's address). The graph replays on the exact device blocks used during capture:
/// give each captured shape its own <see cref="DevicePool"/> and rent from it only in the same order.
/// <code>
/// CudaGraph.BeginCapture(stream);
/// RunForward(stream);                 // kernel launches, async copies
/// using var exec = CudaGraph.EndCapture(stream);
/// exec.Launch(stream);                // replay, as many times as wanted
/// </code>
/// </summary>
public static class CudaGraph
{
    /// <summary>Starts capturing <paramref name="stream"/> (thread-local mode: other threads may keep using CUDA).</summary>
    public static void BeginCapture(CudaStream stream,
        CUstreamCaptureMode mode = CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
    {
        if (stream.Handle == 0)
            throw new ArgumentException("the legacy NULL stream cannot be captured: use CudaStream.Create()", nameof(stream));
        CudaException.Check(CuDriver.cuStreamBeginCapture_v2(stream.Handle, mode), "cuStreamBeginCapture");
    }

    /// <summary>Ends the capture and instantiates the graph (the intermediate CUgraph is destroyed).</summary>
    public static CudaGraphExec EndCapture(CudaStream stream)
    {
        CudaException.Check(CuDriver.cuStreamEndCapture(stream.Handle, out nint graph), "cuStreamEndCapture");
        try
        {
            CudaException.Check(CuDriver.cuGraphInstantiateWithFlags(out nint exec, graph, 0), "cuGraphInstantiateWithFlags");
            return new CudaGraphExec(exec);
        }
        finally
        {
            CuDriver.cuGraphDestroy(graph);
        }
    }

    /// <summary>Captures what <paramref name="record"/> enqueues on <paramref name="stream"/>; ends the capture on failure too.</summary>
    public static CudaGraphExec Capture(CudaStream stream, Action record)
    {
        BeginCapture(stream);
        try
        {
            record();
        }
        catch
        {
            // Leave the stream usable: end (and drop) the broken capture before rethrowing.
            if (CuDriver.cuStreamEndCapture(stream.Handle, out nint g) == CUresult.CUDA_SUCCESS && g != 0)
                CuDriver.cuGraphDestroy(g);
            throw;
        }
        return EndCapture(stream);
    }
}

/// <summary>An instantiated graph (CUgraphExec).</summary>
public sealed class CudaGraphExec : IDisposable
{
    public nint Handle { get; private set; }

    internal CudaGraphExec(nint h) => Handle = h;

    /// <summary>Uploads the graph's work descriptors ahead of the first launch (optional; saves first-launch latency).</summary>
    public void Upload(CudaStream stream) =>
        CudaException.Check(CuDriver.cuGraphUpload(Handle, stream.Handle), "cuGraphUpload");

    public void Launch(CudaStream stream)
    {
        ObjectDisposedException.ThrowIf(Handle == 0, this);
        CudaException.Check(CuDriver.cuGraphLaunch(Handle, stream.Handle), "cuGraphLaunch");
    }

    public void Dispose()
    {
        if (Handle == 0)
            return;
        CuDriver.cuGraphExecDestroy(Handle);
        Handle = 0;
    }
}
