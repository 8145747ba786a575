using PiSa.Cuda;
using PiSa.Cuda.Native;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// CUDA graphs on the runtime's one stream: cuStreamBeginCapture (relaxed mode, because the pool may call cuMemAlloc
/// for a new block while recording), cuStreamEndCapture + cuGraphInstantiate, cuGraphLaunch. Kernel launches, the
/// residual copy of LinearF16 and cuBLASLt calls are stream work and are captured. Memory rules as
/// <see cref="IGpuGraphRuntime"/>. Not yet run on a GPU: the same code path is exercised on the PTX runtime in CI.
/// </summary>
public sealed unsafe partial class PiSaCudaRuntime : IGpuGraphRuntime
{
    private readonly GraphMemoryLedger _graphs = new();

    public bool Capturing => _graphs.Recording is not null;

    public void BeginCapture()
    {
        OnCallingThread();
        if (Capturing) throw new PisaException("a graph capture is already in progress");
        CudaGraph.BeginCapture(_stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        _graphs.Recording = new GpuGraph(DropGraph);
    }

    public GpuGraph EndCapture()
    {
        OnCallingThread();
        var g = _graphs.Recording ?? throw new PisaException("EndCapture without BeginCapture");
        _graphs.Recording = null;
        try { g.Payload = CudaGraph.EndCapture(_stream); }
        catch { g.Dispose(); throw; }
        _graphs.Finished(g);
        return g;
    }

    public void AbortCapture()
    {
        OnCallingThread();
        var g = _graphs.Recording;
        _graphs.Recording = null;
        if (g is null) return;
        // End (and drop) the broken capture so the stream is usable again.
        if (CuDriver.cuStreamEndCapture(_stream.Handle, out nint raw) == CUresult.CUDA_SUCCESS && raw != 0) CuDriver.cuGraphDestroy(raw);
        g.Dispose();
    }

    public void Replay(GpuGraph graph)
    {
        OnCallingThread();
        ObjectDisposedException.ThrowIf(graph.Disposed, graph);
        RefuseWhileCapturing("a graph replay");
        GraphMemoryLedger.CheckReplayable(graph);
        if (graph.Payload is not CudaGraphExec exec) throw new PisaException("this graph was not captured by the CUDA runtime");
        exec.Launch(_stream);
    }

    public void CopyDevice(IntPtr dst, IntPtr src, long bytes)
    {
        OnCallingThread();
        RefuseWhileCapturing("a device-to-device copy outside the graph");
        Buf(dst).CopyFrom(Buf(src), bytes, stream: _stream);
    }

    private void RefuseWhileCapturing(string what)
    {
        if (Capturing) throw new PisaException($"{what} while capturing a CUDA graph: this work cannot be replayed as a graph");
    }

    private void DropGraph(GpuGraph g)
    {
        if (ReferenceEquals(_graphs.Recording, g)) _graphs.Recording = null;
        (g.Payload as CudaGraphExec)?.Dispose();
        g.Payload = null;
        foreach (var (p, _) in _graphs.Drop(g))
            if (_live.Remove(p, out var b)) b.Dispose();
    }
}
