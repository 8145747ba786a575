namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// A CPU-backend activation: a float32 array in row-major order (NHWC for images, [B, L, C] for
/// sequences). The data is public because tests, tiling and the CUDA-vs-CPU checks read it directly.
/// Reshape views share <see cref="Data"/>; ops never write into their inputs.
///
/// Op outputs are rented from <see cref="CpuBufferPool.Shared"/> (<see cref="Rent"/>) and go back to it when
/// the owner or any of its views is disposed (IOps: the first dispose releases the storage), so a tensor
/// must not be read after it, or one of its views, was disposed. Tensors made over a caller's array
/// (the public constructors) never return it to the pool.
/// </summary>
public sealed class CpuTensor : DeviceTensor
{
    private readonly Storage _storage;

    public float[] Data => _storage.Data;

    public CpuTensor(int[] shape, float[] data) : this(shape, new Storage(data, pooled: false)) { }

    public CpuTensor(params int[] shape) : this(shape, new float[Tensors.ShapeUtil.Product(shape)]) { }

    private CpuTensor(int[] shape, Storage storage) : base(shape)
    {
        if (storage.Data.LongLength != Count)
            throw new ArgumentException($"CpuTensor: data length {storage.Data.LongLength} does not match shape [{Tensors.ShapeUtil.Format(shape)}]");
        _storage = storage;
    }

    /// <summary>An op output: a pooled array with UNSPECIFIED contents; the op must write every element.</summary>
    public static CpuTensor Rent(params int[] shape)
        => new(shape, new Storage(CpuBufferPool.Shared.Rent((int)Tensors.ShapeUtil.Product(shape)), pooled: true));

    /// <summary>A pooled output with every element zero (for ops that accumulate into it).</summary>
    public static CpuTensor RentZeroed(params int[] shape)
    {
        var t = Rent(shape);
        CpuRows.Clear(t.Data);
        return t;
    }

    /// <summary>Another shape over the same storage (a view: disposing it releases the owner's array too).</summary>
    public CpuTensor View(int[] shape) => new(shape, _storage);

    public Span<float> Span => Data;

    /// <summary>Returns a pooled array to the pool (once, whichever of the owner and its views comes first).</summary>
    public override void Dispose() => _storage.Release();

    private sealed class Storage(float[] data, bool pooled)
    {
        private int _released;
        public float[] Data { get; } = data;

        public void Release()
        {
            if (pooled && Interlocked.Exchange(ref _released, 1) == 0) CpuBufferPool.Shared.Return(Data);
        }
    }
}
