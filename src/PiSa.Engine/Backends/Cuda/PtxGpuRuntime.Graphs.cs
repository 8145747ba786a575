using PiSa.Ptx;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// Graph capture on the interpreter: a recording is the list of launches (argument bytes copied) and LinearF16 calls;
/// a replay runs them again in order, with the interpreter's checks, on the recorded addresses. The same rules as a
/// CUDA stream capture apply (no host copies or synchronisation while recording; graph memory kept by the graph), so
/// the graph path of CudaOps is tested in CI.
/// </summary>
public sealed partial class PtxGpuRuntime : IGpuGraphRuntime
{
    private readonly GraphMemoryLedger _graphs = new();

    private sealed record RecordedLaunch(PtxKernel Fn, string Kernel, Dim3 Grid, Dim3 Block, int Shared, byte[][] Values);
    private sealed record RecordedLinear(IntPtr X, IntPtr W, IntPtr Bias, IntPtr Residual, IntPtr Y, int Rows, int InF, int OutF);

    public bool Capturing => _graphs.Recording is not null;

    public void BeginCapture()
    {
        if (Capturing) throw new PisaException("a graph capture is already in progress");
        _graphs.Recording = new GpuGraph(DropGraph) { Payload = new List<object>() };
    }

    public GpuGraph EndCapture()
    {
        var g = _graphs.Recording ?? throw new PisaException("EndCapture without BeginCapture");
        _graphs.Recording = null;
        _graphs.Finished(g);
        return g;
    }

    public void AbortCapture()
    {
        var g = _graphs.Recording;
        _graphs.Recording = null;
        g?.Dispose();
    }

    public void Replay(GpuGraph graph)
    {
        ObjectDisposedException.ThrowIf(graph.Disposed, graph);
        RefuseWhileCapturing("a graph replay");
        GraphMemoryLedger.CheckReplayable(graph);
        if (graph.Payload is not List<object> steps) throw new PisaException("this graph was not recorded by the PTX runtime");
        foreach (var s in steps)
        {
            if (s is RecordedLaunch l) Execute(l.Fn, l.Kernel, l.Grid, l.Block, l.Shared, l.Values);
            else if (s is RecordedLinear m)
                CpuLinearF16.Run(_memory, (ulong)(long)m.X, (ulong)(long)m.W, (ulong)(long)m.Bias, (ulong)(long)m.Residual, (ulong)(long)m.Y, m.Rows, m.InF, m.OutF);
        }
    }

    public void CopyDevice(IntPtr dst, IntPtr src, long bytes)
    {
        RefuseWhileCapturing("a device-to-device copy outside the graph");
        var tmp = new byte[bytes];
        _memory.Read((ulong)(long)src, tmp);
        _memory.Write((ulong)(long)dst, tmp);
    }

    private void RecordLaunch(GpuGraph g, PtxKernel fn, string kernel, Dim3 grid, Dim3 block, int shared, byte[][] values, KernelArgs args)
    {
        ((List<object>)g.Payload!).Add(new RecordedLaunch(fn, kernel, grid, block, shared, values));
        g.Launches++;
        _graphs.Read(args);
    }

    private void RecordLinear(GpuGraph g, IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y, int rows, int inF, int outF)
    {
        ((List<object>)g.Payload!).Add(new RecordedLinear(x, w, bias, residual, y, rows, inF, outF));
        g.LinearCalls++;
        _graphs.ReadLinear(x, w, bias, residual, y);
    }

    private void RefuseWhileCapturing(string what)
    {
        if (Capturing) throw new PisaException($"{what} while capturing a graph (CUDA stream capture forbids it): this work cannot be replayed as a graph");
    }

    private void DropGraph(GpuGraph g)
    {
        if (ReferenceEquals(_graphs.Recording, g)) _graphs.Recording = null;
        foreach (var (p, bytes) in _graphs.Drop(g))
            if (_live.Remove(p)) _memory.Free((ulong)(long)p);
    }
}
