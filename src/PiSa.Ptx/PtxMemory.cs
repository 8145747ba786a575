using System.Runtime.CompilerServices;

namespace PiSa.Ptx;

/// <summary>
/// Global memory: a sparse 64-bit address space of host-backed allocations (256-byte aligned, guard gaps between
/// allocations, addresses never reused so a stale pointer is caught as use-after-free), with a per-byte shadow that
/// records whether a byte was written since allocation (bit 0) and in the current launch (bit 1, for the
/// ld.global.nc check). Not thread-safe (one stream).
/// </summary>
public sealed class PtxMemory
{
    /// <summary>Where the first allocation goes: far from 0 so small integers are never valid pointers.</summary>
    internal const ulong BaseAddress = 0x7f00_0000_0000UL;
    /// <summary>Unmapped bytes after each allocation, so an overrun lands in no buffer.</summary>
    const ulong GuardBytes = 64 * 1024;
    internal const byte Written = 1, WrittenThisLaunch = 2;

    internal sealed class Region
    {
        public required ulong Start;
        public required long Length;
        public required string Label;
        public byte[]? Data;     // null once freed
        public byte[]? Shadow;
        public bool TouchedThisLaunch;
    }

    readonly long _capacity;
    readonly List<Region> _regions = new();   // sorted by Start (addresses only grow)
    readonly List<Region> _touched = new();
    ulong _next = BaseAddress;
    Region? _last;

    public PtxMemory(long capacityBytes)
    {
        if (capacityBytes <= 0) throw new ArgumentOutOfRangeException(nameof(capacityBytes));
        _capacity = capacityBytes;
    }

    public long CapacityBytes => _capacity;
    public long LiveBytes { get; private set; }
    public long PeakBytes { get; private set; }
    public int LiveAllocations { get; private set; }

    /// <summary>A new allocation, poisoned (0xFF) and marked unwritten.</summary>
    public ulong Alloc(long bytes, string? label = null)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes), "negative allocation size");
        if (bytes > Array.MaxLength || LiveBytes + bytes > _capacity)
            throw new PtxOutOfMemoryException($"device memory exhausted: {bytes:N0} bytes requested for '{label ?? "?"}', " +
                                              $"{LiveBytes:N0} of {_capacity:N0} in use");
        var data = new byte[bytes];
        data.AsSpan().Fill(0xFF);
        var r = new Region
        {
            Start = _next, Length = bytes, Label = label ?? $"alloc#{_regions.Count}",
            Data = data, Shadow = new byte[bytes],
        };
        _regions.Add(r);
        _next += ((ulong)Math.Max(bytes, 1) + 255) / 256 * 256 + GuardBytes;
        LiveBytes += bytes;
        LiveAllocations++;
        PeakBytes = Math.Max(PeakBytes, LiveBytes);
        return r.Start;
    }

    /// <summary>Frees an allocation (the address must be its start); later access is a use-after-free error.</summary>
    public void Free(ulong address)
    {
        var r = Find(address);
        if (r == null || r.Start != address)
            throw new PtxException($"free of 0x{address:x}, which is not the start of an allocation");
        if (r.Data == null)
            throw new PtxException($"double free of 0x{address:x} ('{r.Label}')");
        r.Data = null;
        r.Shadow = null;
        LiveBytes -= r.Length;
        LiveAllocations--;
    }

    public void Write(ulong address, ReadOnlySpan<byte> src)
    {
        var (r, off) = Range(address, src.Length, "write to");
        src.CopyTo(r.Data.AsSpan(off, src.Length));
        r.Shadow.AsSpan(off, src.Length).Fill(Written);
    }

    public void Read(ulong address, Span<byte> dst)
    {
        var (r, off) = Range(address, dst.Length, "read from");
        r.Data.AsSpan(off, dst.Length).CopyTo(dst);
    }

    /// <summary>Device-to-device copy; the destination's written-ness becomes the source's.</summary>
    public void Copy(ulong dst, ulong src, long bytes)
    {
        var (rs, os) = Range(src, bytes, "copy from");
        var (rd, od) = Range(dst, bytes, "copy to");
        rs.Data.AsSpan(os, (int)bytes).CopyTo(rd.Data.AsSpan(od, (int)bytes));
        var ss = rs.Shadow.AsSpan(os, (int)bytes);
        var sd = rd.Shadow.AsSpan(od, (int)bytes);
        for (int i = 0; i < ss.Length; i++) sd[i] = (byte)(ss[i] & Written);
    }

    public void Fill(ulong address, byte value, long bytes)
    {
        var (r, off) = Range(address, bytes, "fill of");
        r.Data.AsSpan(off, (int)bytes).Fill(value);
        r.Shadow.AsSpan(off, (int)bytes).Fill(Written);
    }

    /// <summary>The label of the allocation holding this address (live or freed), or null.</summary>
    public string? LabelOf(ulong address) => Find(address)?.Label;

    (Region r, int off) Range(ulong address, long bytes, string what)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes));
        var r = Find(address);
        if (r == null)
            throw new PtxException($"{what} 0x{address:x}: not in any allocation");
        if (r.Data == null)
            throw new PtxException($"{what} 0x{address:x}: '{r.Label}' was freed (use after free)");
        ulong off = address - r.Start;
        if (off + (ulong)bytes > (ulong)r.Length)
            throw new PtxException($"{what} 0x{address:x} (+{bytes} bytes): past the end of '{r.Label}' ({r.Length} bytes)");
        return (r, (int)off);
    }

    /// <summary>The region whose [Start, Start+Length) holds the address (freed ones included), else null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Region? Find(ulong address)
    {
        var l = _last;
        if (l != null && address - l.Start < (ulong)l.Length) return l;
        return FindSlow(address);
    }

    Region? FindSlow(ulong address)
    {
        int lo = 0, hi = _regions.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            var r = _regions[mid];
            if (address < r.Start) hi = mid - 1;
            else if (address - r.Start >= (ulong)Math.Max(r.Length, 1)) lo = mid + 1;
            else { if (r.Length > 0) _last = r; return r.Length > 0 ? r : null; }
        }
        return null;
    }

    /// <summary>The allocation with the highest start at or below the address (for messages), or null.</summary>
    internal Region? Below(ulong address)
    {
        Region? best = null;
        int lo = 0, hi = _regions.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (_regions[mid].Start <= address) { best = _regions[mid]; lo = mid + 1; }
            else hi = mid - 1;
        }
        return best;
    }

    /// <summary>Marks a region as written in this launch (so EndLaunch clears its bit 1).</summary>
    internal void Touch(Region r)
    {
        if (!r.TouchedThisLaunch) { r.TouchedThisLaunch = true; _touched.Add(r); }
    }

    /// <summary>Clears the per-launch written bits of every region written in the launch.</summary>
    internal void EndLaunch()
    {
        foreach (var r in _touched)
        {
            r.TouchedThisLaunch = false;
            var s = r.Shadow;
            if (s == null) continue;
            for (int i = 0; i < s.Length; i++) s[i] &= Written;
        }
        _touched.Clear();
    }
}
