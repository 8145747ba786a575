namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// A runtime that records a sequence of work once and replays it (CUDA graphs: cuStreamBeginCapture,
/// cuGraphInstantiate, cuGraphLaunch; on the PTX interpreter a recorded launch list). Between
/// <see cref="BeginCapture"/> and <see cref="EndCapture"/> launches and LinearF16 calls are recorded, NOT run, and
/// host copies and synchronisation are refused (CUDA forbids them in a capture; the interpreter refuses them too,
/// so CI catches code that cannot be captured).
///
/// Stable addresses: a replay writes to the very addresses recorded, so memory allocated while recording belongs to
/// the graph. Freeing it while recording makes it reusable by later allocations of the same size in the same
/// recording (same order on every replay); freeing it afterwards keeps it with the graph. Disposing the graph
/// releases what its users freed and hands what is still in use back to ordinary ownership.
///
/// Memory older than the recording that the graph reads (weights, a prompt's cached K/V) stays its owners': when any
/// of it is freed after the recording, the graph is <see cref="GpuGraph.Stale"/> (a replay would read whatever
/// lives there now) and the runtimes refuse to replay it; the caller records anew.
/// </summary>
public interface IGpuGraphRuntime
{
    void BeginCapture();
    /// <summary>Ends the recording and returns the replayable graph.</summary>
    GpuGraph EndCapture();
    /// <summary>Ends a failed recording and drops it (what it allocated returns to ordinary ownership).</summary>
    void AbortCapture();
    bool Capturing { get; }
    void Replay(GpuGraph graph);
    /// <summary>Device-to-device copy, ordered with the launches (outside a capture: graph inputs and outputs).</summary>
    void CopyDevice(IntPtr dst, IntPtr src, long bytes);
}

/// <summary>A recorded graph; <see cref="Launches"/> kernel launches and <see cref="LinearCalls"/> GEMMs per replay.</summary>
public sealed class GpuGraph : IDisposable
{
    internal readonly Dictionary<IntPtr, long> Owned = new();
    internal readonly HashSet<IntPtr> Released = new();
    internal readonly Dictionary<long, Stack<IntPtr>> Reusable = new();
    /// <summary>Every device address the recorded work was given (kernel pointer arguments, LinearF16 operands),
    /// sorted when the recording ends.</summary>
    internal readonly List<IntPtr> Reads = new();
    private Action<GpuGraph>? _dispose;

    /// <summary>Memory the graph reads but does not own was freed since it was recorded: it must not be replayed.</summary>
    public bool Stale { get; internal set; }

    public int Launches { get; internal set; }
    public int LinearCalls { get; internal set; }
    public long OwnedBytes => Owned.Values.Sum();
    /// <summary>Runtime-specific content (the interpreter's launch list, a CUgraphExec).</summary>
    internal object? Payload { get; set; }
    public bool Disposed => _dispose is null;

    internal GpuGraph(Action<GpuGraph> dispose) => _dispose = dispose;

    public void Dispose()
    {
        var d = _dispose;
        _dispose = null;
        d?.Invoke(this);
    }
}

/// <summary>Which allocations belong to which graph (shared by both runtimes: one truth for the ownership rules).</summary>
internal sealed class GraphMemoryLedger
{
    private readonly Dictionary<IntPtr, GpuGraph> _owner = new();
    /// <summary>Recorded graphs not yet dropped (at most CudaOps.MaxGraphs): those a free may make stale.</summary>
    private readonly List<GpuGraph> _finished = new();
    public GpuGraph? Recording { get; set; }

    /// <summary>While recording: the recorded work is given device address <paramref name="p"/>.</summary>
    public void Read(IntPtr p)
    {
        if (Recording is not null && p != IntPtr.Zero) Recording.Reads.Add(p);
    }

    /// <summary>While recording: a recorded kernel launch is given these arguments (its pointers are what it reads).</summary>
    public void Read(KernelArgs args)
    {
        for (int i = 0; i < args.Count; i++)
            if (args.KindAt(i) == 'P') Read(args.PointerAt(i));
    }

    /// <summary>While recording: a recorded LinearF16 call's operands.</summary>
    public void ReadLinear(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y)
    {
        foreach (var p in (ReadOnlySpan<IntPtr>)[x, w, bias, residual, y]) Read(p);
    }

    /// <summary>The recording ended: <paramref name="g"/> may be replayed from now on (the caller has cleared Recording).</summary>
    public void Finished(GpuGraph g)
    {
        g.Reads.Sort((a, b) => a.CompareTo(b));
        _finished.Add(g);
    }

    /// <summary>Refuses to replay a graph that would read freed memory.</summary>
    public static void CheckReplayable(GpuGraph g)
    {
        if (g.Stale) throw new PisaException("replay of a graph that reads device memory freed since it was recorded");
    }

    /// <summary>Memory [p, p + bytes) that no graph owns is freed: every graph that reads an address in it is stale.</summary>
    private void Freed(IntPtr p, long bytes)
    {
        foreach (var g in _finished)
        {
            if (g.Stale) continue;
            int i = g.Reads.BinarySearch(p);
            if (i < 0) i = ~i;
            if (i < g.Reads.Count && (ulong)((long)g.Reads[i] - (long)p) < (ulong)bytes) g.Stale = true;
        }
    }

    /// <summary>While recording: a block of exactly <paramref name="bytes"/> freed earlier in this recording.</summary>
    public bool TryReuse(long bytes, out IntPtr p)
    {
        p = IntPtr.Zero;
        if (Recording is null || !Recording.Reusable.TryGetValue(bytes, out var s) || s.Count == 0) return false;
        p = s.Pop();
        Recording.Released.Remove(p);
        return true;
    }

    public void Allocated(IntPtr p, long bytes)
    {
        if (Recording is null) return;
        _owner[p] = Recording;
        Recording.Owned[p] = bytes;
    }

    /// <summary>True when <paramref name="p"/> belongs to a graph: the caller must not release it.</summary>
    public bool KeepOnFree(IntPtr p, long bytes)
    {
        if (!_owner.TryGetValue(p, out var g))
        {
            Freed(p, bytes);   // no graph owns it: graphs recorded earlier that read it cannot be replayed any more
            // Older memory freed while recording: the graph read it before this point, so no one else may have it
            // while the graph lives (the pool would hand it out again and a replay would read someone else's data).
            if (Recording is null) return false;
            g = Recording;
            _owner[p] = g;
            g.Owned[p] = bytes;
        }
        if (!g.Released.Add(p)) throw new PisaException($"double free of 0x{p:x} (graph memory)");
        if (ReferenceEquals(g, Recording))
        {
            if (!g.Reusable.TryGetValue(bytes, out var s)) g.Reusable[bytes] = s = new Stack<IntPtr>();
            s.Push(p);
        }
        return true;
    }

    /// <summary>The graph's blocks its users already freed (to release now); the others return to ordinary ownership.</summary>
    public List<(IntPtr Ptr, long Bytes)> Drop(GpuGraph g)
    {
        _finished.Remove(g);
        var release = new List<(IntPtr, long)>();
        foreach (var (p, bytes) in g.Owned)
        {
            _owner.Remove(p);
            if (g.Released.Contains(p))
            {
                release.Add((p, bytes));
                Freed(p, bytes);   // another graph may read what this one's work left there
            }
        }
        g.Owned.Clear();
        g.Released.Clear();
        g.Reusable.Clear();
        return release;
    }
}
