namespace PiSa.Ptx;

/// <summary>
/// Global memory: a sparse 64-bit address space of host-backed allocations (256-byte aligned, guard gaps between
/// allocations, addresses never reused so a stale pointer is caught), with a per-byte shadow that records whether
/// a byte was written since allocation (and whether in the current launch, for the ld.global.nc check).
/// Not thread-safe (one stream).
/// </summary>
public sealed class PtxMemory
{
    public PtxMemory(long capacityBytes) => throw new NotImplementedException();
    public ulong Alloc(long bytes, string? label = null) => throw new NotImplementedException();
    public void Free(ulong address) => throw new NotImplementedException();
    public void Write(ulong address, ReadOnlySpan<byte> src) => throw new NotImplementedException();
    public void Read(ulong address, Span<byte> dst) => throw new NotImplementedException();
    public void Copy(ulong dst, ulong src, long bytes) => throw new NotImplementedException();
    public void Fill(ulong address, byte value, long bytes) => throw new NotImplementedException();
    public long LiveBytes { get; }
    public long PeakBytes { get; }
    public int LiveAllocations { get; }
}
