namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// A reference-counted device allocation (staging buffers and weights use AddRef/Release). A tensor and its
/// reshaped views share one allocation under the IOps rule: the storage goes back to the pool when the FIRST
/// of them is disposed (<see cref="ReleaseOnce"/>), because model code disposes either the owner or the view
/// it keeps, never both, and must not use any of them after that.
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

    private int _tensorReleased;

    /// <summary>Release on behalf of a tensor group (an owner and its views): only the first call counts.</summary>
    public void ReleaseOnce()
    {
        if (Interlocked.Exchange(ref _tensorReleased, 1) == 0) Release();
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
            if (_disposed != 0 || Memory.Ptr == IntPtr.Zero) throw new ObjectDisposedException(ToString());
            return Memory.Ptr;
        }
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Memory.ReleaseOnce();
    }

    private static string ShapeUtilFormat(int[] s) => "[" + Tensors.ShapeUtil.Format(s) + "]";
}
