using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>A packed fp16 weight on the device: [rows][Kp] (see <see cref="WeightPacking"/>).</summary>
public sealed record PackedWeight(DeviceMemory Memory, int Rows, int K, int Kp);

/// <summary>
/// Parameters uploaded once per HostTensor object (reference identity, as IOps promises the same object on every
/// call): matrices as packed fp16, vectors (bias, gamma, beta) as fp32 and, for cuBLASLt's bias, fp16.
///
/// Weight sets come and go while CudaOps lives: each new fused-mode lambda pair is a new merged set (and a new
/// set of folded time biases), and the previous one is dropped (PisaModel keeps one). So the cache must not keep
/// a parameter alive, nor its device copy after it: keys are weak (a <see cref="ConditionalWeakTable{TKey,TValue}"/>),
/// and the device copies of parameters the garbage collector has reclaimed are freed on the next upload after a
/// collection (<see cref="ReleaseUnreachable"/>). A caller that knows a set is retired frees it at once with
/// <see cref="Release"/> (PisaModel does, through <see cref="IWeightRelease"/>). Either way the free goes through
/// <see cref="IGpuRuntime.Free"/>, whose pool is stream-ordered: queued kernels that still read the weight run
/// before any later work can reuse its memory.
/// </summary>
public sealed class WeightCache(IGpuRuntime rt) : IDisposable
{
    /// <summary>The device copies of one parameter (normally just one of the three).</summary>
    private sealed class Copies
    {
        public PackedWeight? Packed, Geglu;
        public DeviceMemory? F32, F16, GegluBias;
        public bool Released;

        public long Bytes => (Packed?.Memory.Bytes ?? 0) + (Geglu?.Memory.Bytes ?? 0) + (F32?.Bytes ?? 0) + (F16?.Bytes ?? 0) + (GegluBias?.Bytes ?? 0);

        public long Release()
        {
            if (Released) return 0;
            long bytes = Bytes;
            Packed?.Memory.Release();
            Geglu?.Memory.Release();
            GegluBias?.Release();
            F32?.Release();
            F16?.Release();
            Released = true;
            return bytes;
        }
    }

    private readonly ConditionalWeakTable<HostTensor, Copies> _byTensor = new();
    /// <summary>Every live entry with a weak reference to its parameter, for the sweep and for Dispose.</summary>
    private readonly List<(WeakReference<HostTensor> Owner, Copies Copies)> _entries = [];
    private readonly object _lock = new();
    private int _sweptAtCollection = -1;
    private readonly List<ICollection<HostTensor>> _trackers = [];
    private long _bytes;

    public PackedWeight Packed(HostTensor w)
    {
        lock (_lock)
        {
            var c = For(w);
            if (c.Packed is { } p) return p;
            ushort[] bits = WeightPacking.PackConvWeight(w, out int k, out int kp);
            var mem = Upload(MemoryMarshal.AsBytes(bits.AsSpan()));
            c.Packed = p = new PackedWeight(mem, w.Shape[0], k, kp);
            return p;
        }
    }

    /// <summary>A GEGLU projection's weight in the fused epilogue's row order (<see cref="WeightPacking.PackGegluWeight"/>);
    /// Rows is the packed row count, not 2F.</summary>
    public PackedWeight PackedGeglu(HostTensor w)
    {
        lock (_lock)
        {
            var c = For(w);
            if (c.Geglu is { } p) return p;
            ushort[] bits = WeightPacking.PackGegluWeight(w, out int rows, out int k, out int kp);
            var mem = Upload(MemoryMarshal.AsBytes(bits.AsSpan()));
            c.Geglu = p = new PackedWeight(mem, rows, k, kp);
            return p;
        }
    }

    /// <summary>Device pointer of a GEGLU bias in the packed row order (fp32).</summary>
    public IntPtr GegluBias(HostTensor b)
    {
        lock (_lock)
        {
            var c = For(b);
            c.GegluBias ??= Upload(MemoryMarshal.AsBytes(WeightPacking.PackGegluBias(b).AsSpan()));
            return c.GegluBias.Ptr;
        }
    }

    /// <summary>Device pointer of the fp32 copy of a parameter vector.</summary>
    public IntPtr Vector(HostTensor v)
    {
        lock (_lock)
        {
            var c = For(v);
            c.F32 ??= Upload(MemoryMarshal.AsBytes(v.Data.AsSpan()));
            return c.F32.Ptr;
        }
    }

    /// <summary>Device pointer of the fp16 copy of a parameter vector (cuBLASLt bias epilogue).</summary>
    public IntPtr VectorF16(HostTensor v)
    {
        lock (_lock)
        {
            var c = For(v);
            if (c.F16 is null)
            {
                var bits = new ushort[v.Count];
                for (int i = 0; i < bits.Length; i++) bits[i] = WeightPacking.ToHalfBits(v.Data[i]);
                c.F16 = Upload(MemoryMarshal.AsBytes(bits.AsSpan()));
            }
            return c.F16.Ptr;
        }
    }

    /// <summary>Frees the device copies of <paramref name="tensors"/> now (parameters of a retired weight set; one
    /// that is used again later is simply uploaded again). Returns the bytes freed.</summary>
    public long Release(IEnumerable<HostTensor> tensors)
    {
        lock (_lock)
        {
            long freed = 0;
            foreach (var t in tensors)
                if (_byTensor.TryGetValue(t, out var c))
                {
                    _byTensor.Remove(t);
                    freed += c.Release();
                }
            if (freed > 0) _entries.RemoveAll(e => e.Copies.Released);
            _bytes -= freed;
            return freed;
        }
    }

    /// <summary>Frees the device copies of every parameter the garbage collector has reclaimed. Runs by itself
    /// before an upload when a collection happened since the last sweep; returns the bytes freed.</summary>
    public long ReleaseUnreachable()
    {
        lock (_lock)
        {
            _sweptAtCollection = GC.CollectionCount(0);
            long freed = 0;
            foreach (var (owner, copies) in _entries)
                if (!owner.TryGetTarget(out _)) freed += copies.Release();
            if (freed > 0) _entries.RemoveAll(e => e.Copies.Released);
            _bytes -= freed;
            return freed;
        }
    }

    /// <summary>Adds every parameter copied for the first time to <paramref name="into"/> until the scope is disposed
    /// (<see cref="IWeightRelease.TrackWeights"/>).</summary>
    public IDisposable Track(ICollection<HostTensor> into)
    {
        lock (_lock) _trackers.Add(into);
        return new TrackScope(this, into);
    }

    private sealed class TrackScope(WeightCache cache, ICollection<HostTensor> into) : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            lock (cache._lock) cache._trackers.Remove(into);
        }
    }

    /// <summary>Parameters with a device copy.</summary>
    public int Count { get { lock (_lock) return _entries.Count; } }

    /// <summary>Device bytes held by the cache.</summary>
    public long Bytes { get { lock (_lock) return _bytes; } }

    private Copies For(HostTensor t)
    {
        if (_byTensor.TryGetValue(t, out var c)) return c;
        // A new parameter: a good moment to drop what earlier collections reclaimed (every collection counts
        // in generation 0's count, so this runs once per collection at most).
        if (GC.CollectionCount(0) != _sweptAtCollection) ReleaseUnreachable();
        c = new Copies();
        foreach (var into in _trackers) into.Add(t);
        _byTensor.Add(t, c);
        _entries.Add((new WeakReference<HostTensor>(t), c));
        return c;
    }

    private DeviceMemory Upload(ReadOnlySpan<byte> bytes)
    {
        var mem = new DeviceMemory(rt, bytes.Length);
        try { rt.CopyToDevice(mem.Ptr, bytes); }
        catch { mem.Release(); throw; }
        _bytes += mem.Bytes;
        return mem;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var (_, copies) in _entries) copies.Release();
            _entries.Clear();
            _byTensor.Clear();
            _bytes = 0;
        }
    }
}
