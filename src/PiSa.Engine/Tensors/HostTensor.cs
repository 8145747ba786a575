namespace PiSa.Engine.Tensors;

/// <summary>
/// A dense float32 tensor in host memory, row-major (C order). This is the currency between the
/// file formats, the LoRA merger and the backends: weights arrive as HostTensors in the layout the
/// file stores them (PyTorch order: conv weights [O, I, kh, kw], linear weights [out, in]), and
/// a backend packs them into whatever layout its kernels want, once, keyed by object identity.
/// </summary>
public sealed class HostTensor
{
    public float[] Data { get; }
    public int[] Shape { get; }
    public long Count => Data.LongLength;

    public HostTensor(int[] shape, float[] data)
    {
        long n = ShapeUtil.Product(shape);
        if (n != data.LongLength)
            throw new ArgumentException($"data length {data.LongLength} does not match shape [{string.Join(", ", shape)}] ({n})");
        Shape = (int[])shape.Clone();
        Data = data;
    }

    public HostTensor(params int[] shape) : this(shape, new float[ShapeUtil.Product(shape)]) { }

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
