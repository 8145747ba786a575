using System.Runtime.InteropServices;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>A packed fp16 weight on the device: [rows][Kp] (see <see cref="WeightPacking"/>).</summary>
public sealed record PackedWeight(DeviceMemory Memory, int Rows, int K, int Kp);

/// <summary>
/// Parameters uploaded once per HostTensor object (reference identity, as IOps promises the same
/// object on every call): matrices as packed fp16, vectors (bias, gamma, beta) as fp32.
/// </summary>
public sealed class WeightCache(IGpuRuntime rt) : IDisposable
{
    private readonly Dictionary<HostTensor, PackedWeight> _packed = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<HostTensor, DeviceMemory> _vectors = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<HostTensor, DeviceMemory> _vectors16 = new(ReferenceEqualityComparer.Instance);
    private readonly object _lock = new();

    public PackedWeight Packed(HostTensor w)
    {
        lock (_lock)
        {
            if (_packed.TryGetValue(w, out var p)) return p;
            ushort[] bits = WeightPacking.PackConvWeight(w, out int k, out int kp);
            var mem = new DeviceMemory(rt, bits.LongLength * 2);
            rt.CopyToDevice(mem.Ptr, MemoryMarshal.AsBytes(bits.AsSpan()));
            p = new PackedWeight(mem, w.Shape[0], k, kp);
            _packed[w] = p;
            return p;
        }
    }

    /// <summary>Device pointer of the fp32 copy of a parameter vector.</summary>
    public IntPtr Vector(HostTensor v)
    {
        lock (_lock)
        {
            if (_vectors.TryGetValue(v, out var m)) return m.Ptr;
            m = new DeviceMemory(rt, v.Count * 4);
            rt.CopyToDevice(m.Ptr, MemoryMarshal.AsBytes(v.Data.AsSpan()));
            _vectors[v] = m;
            return m.Ptr;
        }
    }

    /// <summary>Device pointer of the fp16 copy of a parameter vector (cuBLASLt bias epilogue).</summary>
    public IntPtr VectorF16(HostTensor v)
    {
        lock (_lock)
        {
            if (_vectors16.TryGetValue(v, out var m)) return m.Ptr;
            var bits = new ushort[v.Count];
            for (int i = 0; i < bits.Length; i++) bits[i] = WeightPacking.ToHalfBits(v.Data[i]);
            m = new DeviceMemory(rt, bits.LongLength * 2);
            rt.CopyToDevice(m.Ptr, MemoryMarshal.AsBytes(bits.AsSpan()));
            _vectors16[v] = m;
            return m.Ptr;
        }
    }

    public int Count { get { lock (_lock) return _packed.Count + _vectors.Count + _vectors16.Count; } }

    /// <summary>Frees the device copies of these parameters (a weight set evicted from the cache); unknown ones are ignored.</summary>
    public void Release(IEnumerable<HostTensor> parameters)
    {
        lock (_lock)
        {
            foreach (var t in parameters)
            {
                if (_packed.Remove(t, out var p)) p.Memory.Release();
                if (_vectors.Remove(t, out var m)) m.Release();
                if (_vectors16.Remove(t, out var m16)) m16.Release();
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var p in _packed.Values) p.Memory.Release();
            foreach (var m in _vectors.Values) m.Release();
            foreach (var m in _vectors16.Values) m.Release();
            _vectors16.Clear();
            _packed.Clear();
            _vectors.Clear();
        }
    }
}
