namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// Recycles the float arrays of disposed CPU activations, by exact length. A forward pass repeats the same
/// shapes (every block of a level, every run of a batch), so after the first run nearly every op output is a
/// recycled array: no fresh pages to fault in and zero (the allocator's cost), and no garbage waiting for a
/// GC (which is what made the peak working set several times the live set). Arrays come back with old
/// contents: every op writes all of its output. Pooled bytes are capped; past the cap a returned array is
/// dropped to the GC, and <see cref="Trim"/> empties the pool (the pipeline does so between images of
/// different sizes, so arrays of a shape that will not come back are not kept).
/// </summary>
public sealed class CpuBufferPool
{
    /// <summary>The pool every CPU tensor rents from.</summary>
    public static CpuBufferPool Shared { get; } = new(LimitFromEnvironment() ?? DefaultLimitBytes);

    /// <summary>PISA_CPU_POOL_LIMIT=SIZE (as --max-memory: 768M, 2G) sets the cap on free bytes; the memory estimate
    /// reads the cap, so a smaller pool is also a smaller estimate (and more allocations at run time).</summary>
    private static long? LimitFromEnvironment()
    {
        if (Environment.GetEnvironmentVariable("PISA_CPU_POOL_LIMIT") is not { Length: > 0 } text) return null;
        try { return Pipeline.MemorySize.Parse(text, "PISA_CPU_POOL_LIMIT"); }
        catch (PisaException e)
        {
            // A static initialiser cannot fail the command cleanly: say so in one line and keep the default.
            Console.Error.WriteLine($"pisa: {e.Message}; using the default ({DefaultLimitBytes >> 20} MiB)");
            return null;
        }
    }

    /// <summary>Arrays below this size are left to the GC (small arrays are cheap, and pooling them costs a lock).</summary>
    public const int MinPooledLength = 16 * 1024;

    /// <summary>Default cap on pooled (free) bytes.</summary>
    public const long DefaultLimitBytes = 3L << 30;

    private readonly Dictionary<int, Stack<float[]>> _free = [];
    private readonly Dictionary<int, long> _lastRent = [];
    private readonly Lock _lock = new();
    private long _pooledBytes, _peakPooledBytes, _liveBytes, _peakLiveBytes;
    private long _rents, _hits, _dropped;
    /// <summary>Bytes dropped to the GC (past the cap, or stale) since the last collection this pool forced.</summary>
    private long _uncollected;

    /// <summary>A free size not rented within this many rents (about one stage of the pipeline) is stale: when an
    /// allocation misses, stale arrays are dropped first, so the pool follows the working set of the current stage
    /// instead of keeping every stage's arrays at once.</summary>
    public const int StaleAfterRents = 400;

    /// <summary>Dropped bytes that make the next fresh allocation collect first (one collection costs tens of
    /// milliseconds with SD 2.1's weights on the heap; smaller drops are not worth one).</summary>
    public const long CollectAfterDroppedBytes = 32L << 20;

    public CpuBufferPool(long limitBytes) => LimitBytes = limitBytes;

    /// <summary>The most free bytes the pool keeps.</summary>
    public long LimitBytes { get; set; }

    /// <summary>An array of exactly <paramref name="length"/> elements with unspecified contents.</summary>
    public float[] Rent(int length)
    {
        if (length < MinPooledLength) return GC.AllocateUninitializedArray<float>(length);
        bool collect;
        lock (_lock)
        {
            _rents++;
            _liveBytes += 4L * length;
            _peakLiveBytes = Math.Max(_peakLiveBytes, _liveBytes);
            _lastRent[length] = _rents;
            if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                _hits++;
                _pooledBytes -= 4L * length;
                return stack.Pop();
            }
            _uncollected += DropStale(4L * length);
            collect = _uncollected >= CollectAfterDroppedBytes;
            if (collect) _uncollected = 0;
        }
        // Dropped arrays are only garbage: collect (without compacting the weights) before a fresh array is made, so
        // that it takes their place instead of adding to the working set. Without this, arrays dropped past the cap
        // waited for the GC's own schedule: measured at 1024x1024, about 4 GB of such garbage on top of the pool.
        if (collect) GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
        return GC.AllocateUninitializedArray<float>(length);
    }

    /// <summary>Gives an array from <see cref="Rent"/> back; the caller must not touch it afterwards.</summary>
    public void Return(float[] array)
    {
        if (array.Length < MinPooledLength) return;
        long bytes = 4L * array.Length;
        lock (_lock)
        {
            _liveBytes -= bytes;
            if (_pooledBytes + bytes > LimitBytes)
            {
                _uncollected += bytes;   // dropped: collected before the next fresh array (Rent)
                _dropped += bytes;
                return;
            }
            if (!_free.TryGetValue(array.Length, out var stack)) _free[array.Length] = stack = new Stack<float[]>();
            stack.Push(array);
            _pooledBytes += bytes;
            _peakPooledBytes = Math.Max(_peakPooledBytes, _pooledBytes);
        }
    }

    /// <summary>Drops free arrays of stale sizes, at least <paramref name="bytes"/> of them if there are that many.</summary>
    private long DropStale(long bytes)
    {
        long dropped = 0;
        foreach (var (len, stack) in _free)
        {
            if (stack.Count == 0 || _rents - _lastRent.GetValueOrDefault(len) < StaleAfterRents) continue;
            while (stack.Count > 0 && dropped < bytes)
            {
                stack.Pop();
                dropped += 4L * len;
            }
            if (dropped >= bytes) break;
        }
        _pooledBytes -= dropped;
        _dropped += dropped;
        return dropped;
    }

    /// <summary>Drops every free array (they become garbage for the next GC).</summary>
    public void Trim()
    {
        lock (_lock)
        {
            _free.Clear();
            _pooledBytes = 0;
        }
    }

    /// <summary>Counters for diagnostics and tests: bytes rented and not returned (live) and free in the pool.</summary>
    public PoolStats Stats()
    {
        lock (_lock) return new PoolStats(_liveBytes, _peakLiveBytes, _pooledBytes, _peakPooledBytes, _rents, _hits);
    }

    /// <summary>Starts the peak counters again from the current values.</summary>
    public void ResetPeaks()
    {
        lock (_lock)
        {
            _peakLiveBytes = _liveBytes;
            _peakPooledBytes = _pooledBytes;
        }
    }
}

/// <summary>Pool counters (arrays of at least <see cref="CpuBufferPool.MinPooledLength"/> elements only).</summary>
public readonly record struct PoolStats(long LiveBytes, long PeakLiveBytes, long PooledBytes, long PeakPooledBytes, long Rents, long Hits);
