using PiSa.Cuda;
using PiSa.Cuda.Native;

namespace PiSa.Tests.Cuda;

public class DevicePoolTests
{
    /// <summary>Hands out fake, distinct addresses and records what is live.</summary>
    private sealed class FakeAllocator : IDeviceAllocator
    {
        public readonly Dictionary<ulong, long> Live = new();
        public long Limit = long.MaxValue;
        private ulong _next = 0x1000_0000;

        public ulong Allocate(long bytes)
        {
            if (Live.Values.Sum() + bytes > Limit)
                throw new CudaException("cuMemAlloc", "CUDA_ERROR_OUT_OF_MEMORY", (int)CUresult.CUDA_ERROR_OUT_OF_MEMORY, "out of memory", $"{bytes} bytes");
            var p = _next;
            _next += (ulong)bytes + 0x1000;
            Live[p] = bytes;
            return p;
        }

        public void Free(ulong ptr) => Assert.True(Live.Remove(ptr), $"double or foreign free 0x{ptr:x}");
    }

    [Theory]
    [InlineData(0, 256)]
    [InlineData(1, 256)]
    [InlineData(256, 256)]
    [InlineData(257, 512)]
    [InlineData(1000, 1024)]
    [InlineData(1025, 1280)]
    [InlineData(1280, 1280)]
    [InlineData(1281, 1536)]
    [InlineData(3 << 20, 3 << 20)]
    [InlineData((3 << 20) + 1, 7 << 19)]
    public void SizeClass_RoundsUp_ToAtMostAQuarterMore(long bytes, long expected) =>
        Assert.Equal(expected, DevicePool.SizeClass(bytes));

    [Fact]
    public void SizeClass_NeverShrinks_AndWastesAtMost25Percent()
    {
        var rng = new Random(7);
        for (int i = 0; i < 10000; i++)
        {
            long b = (long)(Math.Pow(2, rng.NextDouble() * 34));
            long c = DevicePool.SizeClass(b);
            Assert.True(c >= b && c % 256 == 0, $"{b} -> {c}");
            if (b > 256)
                Assert.True(c <= b * 1.25 + 256, $"{b} -> {c}");
        }
    }

    [Fact]
    public void WarmPool_ServesARepeatedPattern_WithoutDriverCalls()
    {
        var fake = new FakeAllocator();
        using var pool = new DevicePool(fake);
        long[] pattern = [1 << 20, 4096, 300, 1 << 20, 77777];

        void Forward()
        {
            var held = new List<DeviceBuffer>();
            foreach (var b in pattern)
            {
                var buf = pool.Rent(b);
                Assert.Equal(b, buf.Bytes);
                Assert.Equal(DevicePool.SizeClass(b), buf.Capacity);
                held.Add(buf);
                if (held.Count == 3) { held[0].Dispose(); held.RemoveAt(0); } // some die early
            }
            foreach (var h in held) h.Dispose();
        }

        Forward();
        long allocs = pool.DriverAllocations;
        long reserved = pool.ReservedBytes;
        Assert.Equal(0, pool.CurrentBytes);
        for (int i = 0; i < 5; i++)
            Forward();
        Assert.Equal(allocs, pool.DriverAllocations);
        Assert.Equal(reserved, pool.ReservedBytes);
        Assert.Equal(fake.Live.Values.Sum(), pool.ReservedBytes);
        Assert.Equal(pool.ReservedBytes, pool.CachedBytes);
    }

    [Fact]
    public void TracksCurrentAndPeak()
    {
        using var pool = new DevicePool(new FakeAllocator());
        var a = pool.Rent(1000);  // 1024
        var b = pool.Rent(2048);  // 2048
        Assert.Equal(3072, pool.CurrentBytes);
        a.Dispose();
        Assert.Equal(2048, pool.CurrentBytes);
        Assert.Equal(3072, pool.PeakBytes);
        a.Dispose(); // second dispose is a no-op
        Assert.Equal(2048, pool.CurrentBytes);
        var c = pool.Rent(900);   // reuses a's block
        Assert.Equal(2, pool.DriverAllocations);
        Assert.Equal(3072, pool.PeakBytes);
        pool.ResetPeak();
        Assert.Equal(3072, pool.PeakBytes);
        b.Dispose();
        c.Dispose();
        pool.ResetPeak();
        Assert.Equal(0, pool.PeakBytes);
    }

    /// <summary>Cached blocks serve only their own class: two phases of different sizes reserve both phases' blocks
    /// unless the cache is trimmed between them (what CudaOps does at every stage's end).</summary>
    [Fact]
    public void PeakReserved_AddsUpPhases_UnlessTrimmedBetweenThem()
    {
        long Phases(bool trim)
        {
            using var pool = new DevicePool(new FakeAllocator());
            foreach (long size in new long[] { 1 << 20, 3 << 20 })
            {
                var a = pool.Rent(size);
                var b = pool.Rent(size);
                a.Dispose();
                b.Dispose();
                if (trim) pool.Trim();
            }
            Assert.Equal(0, pool.CurrentBytes);
            return pool.PeakReservedBytes;
        }
        Assert.Equal(2L * (1 << 20) + 2L * (3 << 20), Phases(trim: false));
        Assert.Equal(2L * (3 << 20), Phases(trim: true));
    }

    [Fact]
    public void OutOfMemory_TrimsCachedBlocks_AndRetries()
    {
        var fake = new FakeAllocator { Limit = 10_000 };
        using var pool = new DevicePool(fake);
        pool.Rent(4096).Dispose();
        pool.Rent(4096 + 1024).Dispose(); // a different class, also cached: 9216 bytes held
        using var big = pool.Rent(8192);  // fits only once the cache is given back
        Assert.Equal(8192, pool.ReservedBytes);
        Assert.Single(fake.Live);
    }

    [Fact]
    public void Dispose_FreesCache_AndLaterReturnsGoStraightToTheDriver()
    {
        var fake = new FakeAllocator();
        var pool = new DevicePool(fake);
        pool.Rent(512).Dispose();
        var held = pool.Rent(100_000);
        pool.Dispose();
        Assert.Single(fake.Live);
        held.Dispose();
        Assert.Empty(fake.Live);
        Assert.Throws<ObjectDisposedException>(() => pool.Rent(1));
    }
}

public class DeviceBufferViewTests
{
    [Fact]
    public void Slice_PointsInside_ChecksBounds_AndFreesNothing()
    {
        var fake = new CountingAllocator();
        using var pool = new DevicePool(fake);
        var buf = pool.Rent(4096);
        var view = buf.Slice(1024, 512);
        Assert.True(view.IsView);
        Assert.Equal(buf.Ptr + 1024, view.Ptr);
        Assert.Equal(512, view.Bytes);
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.Slice(4000, 200));
        Assert.Throws<ArgumentOutOfRangeException>(() => view.Slice(0, 513));
        view.Dispose();
        Assert.Equal(4096, pool.CurrentBytes); // the view's dispose returned nothing
        buf.Dispose();
        Assert.Equal(0, pool.CurrentBytes);
        Assert.Equal(0, fake.Frees);
    }

    private sealed class CountingAllocator : IDeviceAllocator
    {
        public int Frees;
        private ulong _next = 0x10000;
        public ulong Allocate(long bytes) { var p = _next; _next += (ulong)bytes; return p; }
        public void Free(ulong ptr) => Frees++;
    }
}
