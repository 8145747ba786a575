namespace PiSa.Engine.Tensors;

/// <summary>
/// A dense float32 tensor in host memory, row-major (C order). This is the currency between the
/// file formats, the LoRA merger and the backends: weights arrive as HostTensors in the layout the
/// file stores them (PyTorch order: conv weights [O, I, kh, kw], linear weights [out, in]), and
/// a backend packs them into whatever layout its kernels want, once, keyed by object identity.
///
/// A weight made by a source that can produce it again (a memory-mapped file, a seed, a LoRA merge of such
/// weights) is <see cref="Reloadable"/>: once a backend has packed it, <see cref="ReleaseData"/> drops the float
/// copy so the weight is held once (packed), not twice, and the next read of <see cref="Data"/> makes it again
/// (same values, a new array) and keeps it. The object, and so every backend's packed copy keyed by it, stays.
/// Values are immutable: never write into the Data of a reloadable tensor (a release would undo the write).
/// </summary>
public sealed class HostTensor
{
    private float[]? _data;
    private readonly Func<float[]>? _reload;
    private readonly long _count;

    /// <summary>The values (made again from the source if they were released).</summary>
    public float[] Data => _data ?? Materialize();
    public int[] Shape { get; }
    public long Count => _count;

    public HostTensor(int[] shape, float[] data) : this(shape, data, null) { }

    public HostTensor(params int[] shape) : this(shape, new float[ShapeUtil.Product(shape)]) { }

    private HostTensor(int[] shape, float[] data, Func<float[]>? reload)
    {
        long n = ShapeUtil.Product(shape);
        if (n != data.LongLength)
            throw new ArgumentException($"data length {data.LongLength} does not match shape [{string.Join(", ", shape)}] ({n})");
        Shape = (int[])shape.Clone();
        _count = n;
        _data = data;
        _reload = reload;
    }

    /// <summary>A tensor whose values <paramref name="reload"/> can make again (bit-identical) after a release.</summary>
    public static HostTensor Reloadable(int[] shape, float[] data, Func<float[]> reload) => new(shape, data, reload);

    /// <summary>Whether <see cref="ReleaseData"/> can drop the float copy.</summary>
    public bool CanRelease => _reload != null;

    /// <summary>Whether the float copy is held now (false between a release and the next read).</summary>
    public bool IsResident => _data != null;

    /// <summary>Drops the float copy when the values can be made again (a backend packed them, or a fused layer
    /// copied them); returns the bytes let go (0 when not reloadable or already released). Arrays handed out
    /// before stay valid for whoever holds them.</summary>
    public long ReleaseData()
    {
        if (_reload == null) return 0;
        var old = Interlocked.Exchange(ref _data, null);
        if (old == null) return 0;
        ReleasedWeightMemory.Released(4 * old.LongLength);
        return 4 * old.LongLength;
    }

    private float[] Materialize()
    {
        var reload = _reload ?? throw new InvalidOperationException("HostTensor without data");
        var d = reload();
        if (d.LongLength != _count)
            throw new PisaException($"a reloaded weight has {d.LongLength} elements, expected {_count} ([{ShapeUtil.Format(Shape)}]): its file changed?");
        return Interlocked.CompareExchange(ref _data, d, null) ?? d;
    }

    public int Rank => Shape.Length;
    public int Dim(int i) => Shape[i < 0 ? Shape.Length + i : i];
    public Span<float> Span => Data;

    /// <summary>Same data, another shape with the same element count (no copy).</summary>
    public HostTensor Reshape(params int[] shape) => new(shape, Data);

    public HostTensor Clone() => new(Shape, (float[])Data.Clone());

    public override string ToString() => $"HostTensor[{string.Join(", ", Shape)}]";
}

public static class ShapeUtil
{
    /// <summary>Element count of a shape; throws on negative dimensions or overflow past 2^31-1 elements
    /// (a .NET array limit we keep on purpose: no single tensor of SD2.1 comes near it).</summary>
    public static long Product(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{Format(shape)}]");
            n = checked(n * d);
            if (n > int.MaxValue) throw new ArgumentException($"shape [{Format(shape)}] has more than 2^31-1 elements");
        }
        return n;
    }

    public static string Format(ReadOnlySpan<int> shape)
    {
        var parts = new string[shape.Length];
        for (int i = 0; i < shape.Length; i++) parts[i] = shape[i].ToString();
        return string.Join(", ", parts);
    }

    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);
}
