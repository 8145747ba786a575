using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// A caching allocator: sizes are rounded up to a size class (at most 25 % waste) and freed blocks wait
/// in a free list per class, so a forward pass that has run once at a shape rents everything from the
/// lists and never calls cuMemAlloc again (which would also break CUDA graph capture).
/// Blocks are reused in stream order: safe when all work goes through one stream.
/// Tracks bytes in use (by class size), the peak of that, bytes held from the driver and the peak of that (what the
/// process really holds: blocks in use plus the cached ones), and the number of driver allocations (a test or the
/// engine can assert it stays flat once warm). Cached blocks only serve their own class, so work whose phases use
/// different sizes (the pipeline's stages) makes the reservation the sum of the phases' peaks unless the caller
/// gives the cache back between them with <see cref="Trim"/>.
/// </summary>
public sealed class DevicePool : IDisposable
{
    private readonly IDeviceAllocator _allocator;
    private readonly Dictionary<long, Stack<ulong>> _free = new();
    private readonly object _lock = new();
    private bool _disposed;

    public DevicePool(IDeviceAllocator? allocator = null) => _allocator = allocator ?? DriverAllocator.Instance;

    /// <summary>Bytes currently rented out (size-class bytes).</summary>
    public long CurrentBytes { get; private set; }

    /// <summary>Highest <see cref="CurrentBytes"/> since creation or <see cref="ResetPeak"/>.</summary>
    public long PeakBytes { get; private set; }

    /// <summary>Bytes obtained from the driver and not yet freed (rented + cached).</summary>
    public long ReservedBytes { get; private set; }

    /// <summary>Highest <see cref="ReservedBytes"/> since creation or <see cref="ResetPeak"/>: the device memory the
    /// pool held at its worst.</summary>
    public long PeakReservedBytes { get; private set; }

    /// <summary>How many times the pool called the driver to allocate.</summary>
    public long DriverAllocations { get; private set; }

    /// <summary>Smallest size class; also keeps every block 256-byte aligned in size.</summary>
    public const long MinClass = 256;

    /// <summary>
    /// The class a request of <paramref name="bytes"/> lands in: 256 bytes minimum, then four classes
    /// per power of two (e.g. 1024, 1280, 1536, 1792, 2048...).
    /// </summary>
    public static long SizeClass(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes <= MinClass)
            return MinClass;
        int e = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(bytes - 1)); // 2^e <= bytes-1 < 2^(e+1)
        long step = 1L << Math.Max(e - 2, 8);
        return (bytes + step - 1) / step * step;
    }

    /// <summary>A buffer of at least <paramref name="bytes"/>; dispose it to give it back to the pool.</summary>
    public DeviceBuffer Rent(long bytes)
    {
        long cls = SizeClass(bytes);
        ulong p;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_free.TryGetValue(cls, out var list) && list.Count > 0)
            {
                p = list.Pop();
            }
            else
            {
                p = AllocateFromDriver(cls);
                ReservedBytes += cls;
                if (ReservedBytes > PeakReservedBytes)
                    PeakReservedBytes = ReservedBytes;
                DriverAllocations++;
            }
            CurrentBytes += cls;
            if (CurrentBytes > PeakBytes)
                PeakBytes = CurrentBytes;
        }
        return new DeviceBuffer(p, bytes, cls, this);
    }

    private ulong AllocateFromDriver(long cls)
    {
        try
        {
            return _allocator.Allocate(cls);
        }
        catch (CudaException e) when (e.Result == CUresult.CUDA_ERROR_OUT_OF_MEMORY)
        {
            // Cached blocks of other classes may be what is missing: give them back and try once more.
            TrimLocked();
            return _allocator.Allocate(cls);
        }
    }

    internal void Return(ulong ptr, long cls)
    {
        lock (_lock)
        {
            CurrentBytes -= cls;
            if (_disposed)
            {
                _allocator.Free(ptr);
                ReservedBytes -= cls;
                return;
            }
            if (!_free.TryGetValue(cls, out var list))
                _free[cls] = list = new Stack<ulong>();
            list.Push(ptr);
        }
    }

    /// <summary>Bytes cached in the free lists.</summary>
    public long CachedBytes
    {
        get
        {
            lock (_lock)
                return _free.Sum(kv => kv.Key * kv.Value.Count);
        }
    }

    public void ResetPeak()
    {
        lock (_lock)
        {
            PeakBytes = CurrentBytes;
            PeakReservedBytes = ReservedBytes;
        }
    }

    /// <summary>Frees every cached (not rented) block.</summary>
    public void Trim()
    {
        lock (_lock)
            TrimLocked();
    }

    private void TrimLocked()
    {
        foreach (var (cls, list) in _free)
        {
            while (list.Count > 0)
            {
                _allocator.Free(list.Pop());
                ReservedBytes -= cls;
            }
        }
        _free.Clear();
    }

    public override string ToString() =>
        $"DevicePool(in use {CurrentBytes} B, peak {PeakBytes} B, reserved {ReservedBytes} B (peak {PeakReservedBytes} B), {DriverAllocations} driver allocations)";

    /// <summary>Frees cached blocks; blocks still rented are freed when they are disposed.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            TrimLocked();
            _disposed = true;
        }
    }
}
