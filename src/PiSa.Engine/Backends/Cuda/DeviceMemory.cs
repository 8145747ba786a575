namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// A reference-counted device allocation: tensors and their reshaped views share one, and the memory
/// goes back to the runtime's pool when the last of them is disposed.
/// </summary>
public sealed class DeviceMemory
{
    private readonly IGpuRuntime _rt;
    private int _refs = 1;

    public IntPtr Ptr { get; private set; }
    public long Bytes { get; }

    public DeviceMemory(IGpuRuntime rt, long bytes)
    {
        _rt = rt;
        Bytes = bytes;
        Ptr = rt.Alloc(Math.Max(bytes, 16));
    }

    public void AddRef()
    {
        if (Interlocked.Increment(ref _refs) <= 1) throw new ObjectDisposedException(nameof(DeviceMemory));
    }

    public void Release()
    {
        int r = Interlocked.Decrement(ref _refs);
        if (r == 0) { _rt.Free(Ptr, Math.Max(Bytes, 16)); Ptr = IntPtr.Zero; }
    }
}

/// <summary>An fp16 NHWC / [B, L, C] activation on the device.</summary>
public sealed class CudaTensor : DeviceTensor
{
    private int _disposed;
    public DeviceMemory Memory { get; }

    /// <summary>Takes ownership of one reference to <paramref name="memory"/>.</summary>
    public CudaTensor(int[] shape, DeviceMemory memory) : base(shape)
    {
        if (memory.Bytes < Count * 2) throw new ArgumentException($"device memory of {memory.Bytes} bytes is too small for fp16 {ShapeUtilFormat(shape)}");
        Memory = memory;
    }

    public IntPtr Ptr
    {
        get
        {
            if (_disposed != 0) throw new ObjectDisposedException(ToString());
            return Memory.Ptr;
        }
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Memory.Release();
    }

    private static string ShapeUtilFormat(int[] s) => "[" + Tensors.ShapeUtil.Format(s) + "]";
}
