using System.Runtime.InteropServices;
using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// A block of device memory: a pointer and a size in bytes. Dispose gives it back: to its
/// <see cref="DevicePool"/> when rented from one, otherwise to the driver (cuMemFree).
/// Copies from/to host spans are synchronous for the host (the async variants return once a pageable
/// source is staged, or once a pageable destination is written, as the driver documents), so spans can
/// be reused right after the call.
/// Without a stream, copies and fills go to the legacy stream and are complete on the device when they
/// return (see <see cref="CompleteOnLegacyStream"/>), so work on any stream, non-blocking ones included,
/// sees their result. With a stream they are ordered on that stream only.
/// </summary>
public sealed unsafe class DeviceBuffer : IDisposable
{
    /// <summary>CUdeviceptr.</summary>
    public ulong Ptr { get; private set; }

    /// <summary>The size asked for.</summary>
    public long Bytes { get; }

    /// <summary>The size actually reserved (the pool's size class; equals Bytes for direct allocations).</summary>
    public long Capacity { get; }

    private DevicePool? _pool;
    private readonly bool _owns;

    internal DeviceBuffer(ulong ptr, long bytes, long capacity, DevicePool? pool, bool owns = true)
    {
        Ptr = ptr;
        Bytes = bytes;
        Capacity = capacity;
        _pool = pool;
        _owns = owns;
    }

    /// <summary>True for a <see cref="Slice"/>: disposing it frees nothing.</summary>
    public bool IsView => !_owns;

    /// <summary>
    /// A non-owning view of <paramref name="bytes"/> starting at <paramref name="offset"/> (for packed
    /// weights or Q/K/V thirds of one buffer). Valid only while this buffer lives; disposing it is a no-op.
    /// </summary>
    public DeviceBuffer Slice(long offset, long bytes)
    {
        CheckRange(offset, bytes, "Slice");
        return new DeviceBuffer(Ptr + (ulong)offset, bytes, bytes, null, owns: false);
    }

    public bool IsDisposed => Ptr == 0;

    /// <summary>A direct cuMemAlloc (no pool); for weights and other long-lived data.</summary>
    public static DeviceBuffer Allocate(long bytes)
    {
        ulong p = DriverAllocator.Instance.Allocate(bytes);
        return new DeviceBuffer(p, bytes, bytes, null);
    }

    /// <summary>Allocates and uploads <paramref name="data"/>.</summary>
    public static DeviceBuffer FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var b = Allocate(Math.Max(1, (long)data.Length * sizeof(T)));
        try
        {
            b.CopyFromHost(data);
        }
        catch
        {
            b.Dispose();
            throw;
        }
        return b;
    }

    /// <summary>Host to device, at byte offset <paramref name="dstOffset"/>.</summary>
    public void CopyFromHost<T>(ReadOnlySpan<T> src, long dstOffset = 0, CudaStream? stream = null) where T : unmanaged
    {
        long n = (long)src.Length * sizeof(T);
        CheckRange(dstOffset, n, "CopyFromHost");
        if (n == 0) return;
        fixed (T* p = src)
        {
            var r = stream is null
                ? CuDriver.cuMemcpyHtoD_v2(Ptr + (ulong)dstOffset, p, (nuint)n)
                : CuDriver.cuMemcpyHtoDAsync_v2(Ptr + (ulong)dstOffset, p, (nuint)n, stream.Handle);
            CudaException.Check(r, "cuMemcpyHtoD", $"{n} bytes to offset {dstOffset} of a {Bytes}-byte buffer");
        }
        if (stream is null) CompleteOnLegacyStream("cuMemcpyHtoD");
    }

    /// <summary>Device to host, from byte offset <paramref name="srcOffset"/>. With a stream, waits for the copy.</summary>
    public void CopyToHost<T>(Span<T> dst, long srcOffset = 0, CudaStream? stream = null) where T : unmanaged
    {
        long n = (long)dst.Length * sizeof(T);
        CheckRange(srcOffset, n, "CopyToHost");
        if (n == 0) return;
        fixed (T* p = dst)
        {
            if (stream is null)
            {
                CudaException.Check(CuDriver.cuMemcpyDtoH_v2(p, Ptr + (ulong)srcOffset, (nuint)n), "cuMemcpyDtoH",
                    $"{n} bytes from offset {srcOffset} of a {Bytes}-byte buffer");
            }
            else
            {
                CudaException.Check(CuDriver.cuMemcpyDtoHAsync_v2(p, Ptr + (ulong)srcOffset, (nuint)n, stream.Handle), "cuMemcpyDtoHAsync",
                    $"{n} bytes from offset {srcOffset} of a {Bytes}-byte buffer");
                // The span may be managed memory that moves after 'fixed' ends: never leave a copy in flight.
                stream.Synchronize();
            }
        }
    }

    /// <summary>Downloads the whole buffer as an array of <typeparamref name="T"/>.</summary>
    public T[] ToArray<T>(CudaStream? stream = null) where T : unmanaged
    {
        var a = new T[Bytes / sizeof(T)];
        CopyToHost<T>(a, 0, stream);
        return a;
    }

    /// <summary>Device to device: <paramref name="bytes"/> from <paramref name="src"/> into this buffer.</summary>
    public void CopyFrom(DeviceBuffer src, long bytes, long srcOffset = 0, long dstOffset = 0, CudaStream? stream = null)
    {
        CheckRange(dstOffset, bytes, "CopyFrom");
        src.CheckRange(srcOffset, bytes, "CopyFrom (source)");
        if (bytes == 0) return;
        var r = stream is null
            ? CuDriver.cuMemcpyDtoD_v2(Ptr + (ulong)dstOffset, src.Ptr + (ulong)srcOffset, (nuint)bytes)
            : CuDriver.cuMemcpyDtoDAsync_v2(Ptr + (ulong)dstOffset, src.Ptr + (ulong)srcOffset, (nuint)bytes, stream.Handle);
        CudaException.Check(r, "cuMemcpyDtoD", $"{bytes} bytes");
        if (stream is null) CompleteOnLegacyStream("cuMemcpyDtoD");
    }

    /// <summary>Sets every byte to <paramref name="value"/> (zero by default).</summary>
    public void Fill(byte value = 0, CudaStream? stream = null)
    {
        ThrowIfDisposed();
        var r = stream is null
            ? CuDriver.cuMemsetD8_v2(Ptr, value, (nuint)Bytes)
            : CuDriver.cuMemsetD8Async(Ptr, value, (nuint)Bytes, stream.Handle);
        CudaException.Check(r, "cuMemsetD8", $"{Bytes} bytes");
        if (stream is null) CompleteOnLegacyStream("cuMemsetD8");
    }

    /// <summary>Sets the first <paramref name="count"/> 32-bit words to <paramref name="value"/> (e.g. a float's bits).</summary>
    public void Fill32(uint value, long count, CudaStream? stream = null)
    {
        CheckRange(0, count * 4, "Fill32");
        var r = stream is null
            ? CuDriver.cuMemsetD32_v2(Ptr, value, (nuint)count)
            : CuDriver.cuMemsetD32Async(Ptr, value, (nuint)count, stream.Handle);
        CudaException.Check(r, "cuMemsetD32", $"{count} words");
        if (stream is null) CompleteOnLegacyStream("cuMemsetD32");
    }

    /// <summary>
    /// The "synchronous" driver copies are not complete on the device when they return: a pageable
    /// host-to-device copy returns once the source is staged (the DMA may still run), device-to-device
    /// copies and memsets are asynchronous to the host. They are ordered only on the legacy stream, which
    /// a non-blocking stream (<see cref="CudaStream.Create"/>'s default) does not wait for, so a kernel
    /// queued there right after could read the old bytes. Waiting for the legacy stream closes that gap.
    /// </summary>
    private static void CompleteOnLegacyStream(string op) =>
        CudaException.Check(CuDriver.cuStreamSynchronize(0), "cuStreamSynchronize", $"legacy stream after {op}");

    private void CheckRange(long offset, long n, string op)
    {
        ThrowIfDisposed();
        if (offset < 0 || n < 0 || offset + n > Bytes)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{op}: {n} bytes at offset {offset} do not fit a {Bytes}-byte device buffer");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Ptr == 0, this);

    public override string ToString() => $"DeviceBuffer(0x{Ptr:x}, {Bytes} bytes)";

    public void Dispose()
    {
        if (Ptr == 0)
            return;
        var p = Ptr;
        Ptr = 0;
        if (!_owns)
            return;
        if (_pool is { } pool)
            pool.Return(p, Capacity);
        else
            DriverAllocator.Instance.Free(p);
        _pool = null;
    }
}

/// <summary>Where device memory comes from; an interface so the pool's bookkeeping is testable without a GPU.</summary>
public interface IDeviceAllocator
{
    ulong Allocate(long bytes);
    void Free(ulong ptr);
}

/// <summary>cuMemAlloc / cuMemFree.</summary>
public sealed class DriverAllocator : IDeviceAllocator
{
    public static DriverAllocator Instance { get; } = new();

    public ulong Allocate(long bytes)
    {
        CudaException.Check(CuDriver.cuMemAlloc_v2(out ulong p, (nuint)Math.Max(1, bytes)), "cuMemAlloc", $"{bytes} bytes");
        return p;
    }

    public void Free(ulong ptr) => CuDriver.cuMemFree_v2(ptr);
}
