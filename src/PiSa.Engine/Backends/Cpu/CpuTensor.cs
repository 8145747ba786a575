namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// A CPU-backend activation: a float32 array in row-major order (NHWC for images, [B, L, C] for
/// sequences). The data is public because tests, tiling and the CUDA-vs-CPU checks read it directly.
/// Reshape views share <see cref="Data"/>; ops never write into their inputs.
/// </summary>
public sealed class CpuTensor : DeviceTensor
{
    public float[] Data { get; }

    public CpuTensor(int[] shape, float[] data) : base(shape)
    {
        if (data.LongLength != Count)
            throw new ArgumentException($"CpuTensor: data length {data.LongLength} does not match shape [{Tensors.ShapeUtil.Format(shape)}]");
        Data = data;
    }

    public CpuTensor(params int[] shape) : this(shape, new float[Tensors.ShapeUtil.Product(shape)]) { }

    public Span<float> Span => Data;

    /// <summary>Nothing to release: the garbage collector owns the array.</summary>
    public override void Dispose() { }
}
