using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// IOps.Replayable on CUDA graphs (the pipeline offers the UNet pass and the untiled VAE encoder and decoder passes).
/// Per (key, input shape): the first call runs f plainly (weights upload, kernels compile, the prompt's K/V get
/// cached: none of that may be captured); the second records f on graph-owned memory
/// into a graph (its input and output buffers kept); every call from then on copies its input into the graph's input
/// buffer, replays, and copies the output out. At most <see cref="MaxGraphs"/> graphs are kept (oldest dropped).
/// A graph made stale (memory it reads but does not own was freed since: a released weight set, the prompt K/V a
/// UNet recomputed for another prompt, see <see cref="GpuGraph.Stale"/>) is dropped and its key starts over with a
/// plain run, which makes that state again.
/// Off unless <see cref="UseGraphs"/> (PISA_CUDA_GRAPHS=1): the CUDA path has not yet run on a GPU.
/// </summary>
public sealed partial class CudaOps
{
    public const int MaxGraphs = 4;
    public const string EnvGraphs = "PISA_CUDA_GRAPHS";

    private sealed class GraphEntry
    {
        public GpuGraph? Graph;
        public CudaTensor? In, Out;
        public int Calls;
    }

    private readonly Dictionary<(object Key, string Shape), GraphEntry> _graphEntries = new();
    private readonly LinkedList<(object Key, string Shape)> _graphOrder = new();

    /// <summary>Record and replay <see cref="Replayable"/> work as graphs (needs a runtime with <see cref="IGpuGraphRuntime"/>).</summary>
    public bool UseGraphs { get; set; } = Environment.GetEnvironmentVariable(EnvGraphs) == "1";

    /// <summary>Graphs recorded so far and replays done (for tests and the profile).</summary>
    public int GraphsRecorded { get; private set; }
    public int GraphReplays { get; private set; }
    /// <summary>Graphs dropped because memory they read was freed (<see cref="GpuGraph.Stale"/>).</summary>
    public int GraphsInvalidated { get; private set; }
    /// <summary>Kernel launches in the most recently recorded graph.</summary>
    public int LastGraphLaunches { get; private set; }
    /// <summary>Why a recording failed (work a graph cannot hold, a driver that refused the capture): graphs are then
    /// off for this backend and that call ran plainly, so a first run on a new GPU or driver loses the graphs, not
    /// the image. Null while none has failed. `pisa bench --graphs` prints it.</summary>
    public string? GraphFailure { get; private set; }

    public DeviceTensor Replayable(object key, DeviceTensor input, Func<DeviceTensor, DeviceTensor> f)
    {
        if (!UseGraphs || _rt is not IGpuGraphRuntime g) return f(input);
        var x = C(input, "replayable", "input");
        var id = (key, ShapeUtil.Format(x.Shape));
        if (!_graphEntries.TryGetValue(id, out var e))
        {
            e = new GraphEntry();
            _graphEntries[id] = e;
            _graphOrder.AddLast(id);
            EvictOldGraphs();
        }
        if (e.Graph is { Stale: true })
        {
            DropEntry(e);
            e.Graph = null;
            e.In = e.Out = null;
            e.Calls = 0;
            GraphsInvalidated++;
        }
        e.Calls++;
        if (e.Calls == 1) return f(input);   // warm-up: nothing of this may be captured
        if (e.Graph is null)
        {
            try { Record(g, e, x, f); }
            catch (Exception ex) when (ex is PisaException or PiSa.Cuda.CudaException)
            {
                // Not a cancellation (that propagates): the recording was abandoned; run the work plainly, for good.
                GraphFailure = $"recording a CUDA graph failed, graphs are off: {ex.Message}";
                UseGraphs = false;
                DropGraphs();   // the graphs recorded before it would never replay again: release their memory
                return f(input);
            }
        }
        g.CopyDevice(e.In!.Ptr, x.Ptr, x.Count * 2);
        g.Replay(e.Graph!);
        GraphReplays++;
        var y = New(e.Out!.Shape);
        g.CopyDevice(y.Ptr, e.Out.Ptr, y.Count * 2);
        return y;
    }

    private void Record(IGpuGraphRuntime g, GraphEntry e, CudaTensor x, Func<DeviceTensor, DeviceTensor> f)
    {
        g.BeginCapture();
        try
        {
            e.In = New(x.Shape);
            e.Out = C(f(e.In), "replayable", "result");
            e.Graph = g.EndCapture();
        }
        catch
        {
            g.AbortCapture();
            e.In?.Dispose(); e.Out?.Dispose();
            e.In = e.Out = null;
            throw;
        }
        GraphsRecorded++;
        LastGraphLaunches = e.Graph.Launches;
    }

    private void EvictOldGraphs()
    {
        while (_graphOrder.Count > MaxGraphs)
        {
            var id = _graphOrder.First!.Value;
            _graphOrder.RemoveFirst();
            if (_graphEntries.Remove(id, out var old)) DropEntry(old);
        }
    }

    private static void DropEntry(GraphEntry e)
    {
        e.In?.Dispose(); e.Out?.Dispose();   // graph memory: kept until the graph goes
        e.Graph?.Dispose();
    }

    /// <summary>Drops every recorded graph and its memory.</summary>
    public void DropGraphs()
    {
        foreach (var e in _graphEntries.Values) DropEntry(e);
        _graphEntries.Clear();
        _graphOrder.Clear();
    }
}
