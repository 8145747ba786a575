using System.Runtime.CompilerServices;
using PiSa.Engine.Backends.Cpu;

namespace PiSa.Tests.Cpu;

[Collection(nameof(PiSa.Tests.Pipeline.PoolCounters))]
public sealed class CpuBufferPoolTests
{
    [Fact]
    public void A_returned_array_is_rented_again_and_big_arrays_past_the_cap_are_dropped()
    {
        var pool = new CpuBufferPool(limitBytes: 4L * 3 * CpuBufferPool.MinPooledLength);
        var a = pool.Rent(CpuBufferPool.MinPooledLength);
        pool.Return(a);
        Assert.Same(a, pool.Rent(CpuBufferPool.MinPooledLength));
        Assert.NotSame(a, pool.Rent(CpuBufferPool.MinPooledLength));           // the pool is empty again
        var big = pool.Rent(4 * CpuBufferPool.MinPooledLength);
        pool.Return(big);                                                       // over the cap: dropped
        Assert.NotSame(big, pool.Rent(4 * CpuBufferPool.MinPooledLength));
        var s = pool.Stats();
        Assert.Equal(0, s.PooledBytes);
        Assert.Equal(1, s.Hits);
    }

    /// <summary>An array dropped past the cap is garbage; the pool collects it before it makes the next fresh array,
    /// so the new array can take its place instead of adding to the working set (at 1024x1024 such garbage was GBs).</summary>
    [Fact]
    public void Arrays_dropped_past_the_cap_are_collected_before_the_next_fresh_allocation()
    {
        var pool = new CpuBufferPool(limitBytes: 0);
        var dropped = RentAndReturn(pool, (int)(CpuBufferPool.CollectAfterDroppedBytes / 4));
        var fresh = pool.Rent(2 * CpuBufferPool.MinPooledLength);   // a miss: the pool has nothing to give
        Assert.False(dropped.IsAlive, "the dropped array was still on the heap after the next fresh allocation");
        pool.Return(fresh);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference RentAndReturn(CpuBufferPool pool, int length)
    {
        var a = pool.Rent(length);
        pool.Return(a);
        return new WeakReference(a);
    }

    [Fact]
    public void A_view_and_its_owner_release_the_storage_once()
    {
        // Through the shared pool (what CpuOps uses): the owner and its view disposed -> one array back, not two.
        int n = CpuBufferPool.MinPooledLength * 3 + 17;
        var t = CpuTensor.Rent(1, n);
        var v = t.View([n]);
        var data = t.Data;
        v.Dispose();
        t.Dispose();
        var r1 = CpuTensor.Rent(n);
        var r2 = CpuTensor.Rent(n);
        Assert.Same(data, r1.Data);        // returned once...
        Assert.NotSame(r1.Data, r2.Data);  // ...not twice (a double return would hand the same array out again)
        r1.Dispose();
        r2.Dispose();
    }

    [Fact]
    public void RentZeroed_clears_a_recycled_array_and_caller_arrays_are_never_pooled()
    {
        int n = CpuBufferPool.MinPooledLength * 5 + 3;
        var t = CpuTensor.Rent(n);
        t.Data.AsSpan().Fill(3f);
        t.Dispose();
        var z = CpuTensor.RentZeroed(n);
        Assert.All(z.Data, x => Assert.Equal(0f, x));
        z.Dispose();

        var mine = new float[n];
        new CpuTensor([n], mine).Dispose();
        var again = CpuTensor.Rent(n);
        Assert.NotSame(mine, again.Data);
        again.Dispose();
    }
}
