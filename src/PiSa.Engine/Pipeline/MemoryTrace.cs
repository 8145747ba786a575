using PiSa.Engine.Backends.Cpu;

namespace PiSa.Engine.Pipeline;

/// <summary>
/// A diagnostic for the memory estimate (PISA_MEMORY_TRACE=1): a background thread samples the working set every
/// 20 ms, and at the end of each pipeline stage one line on stderr says what the stage's highest sample held: the
/// working set, the CPU pool's live and free bytes, and the GC's view (heap, fragmentation, committed). That is how
/// an estimate below a measured peak is traced to its part. Off (and free) unless the variable is set.
/// </summary>
public static class MemoryTrace
{
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("PISA_MEMORY_TRACE") == "1";

    private static readonly Lock Gate = new();
    private static string _stage = "start";
    private static Sample _peak;
    private static Thread? _sampler;

    private readonly record struct Sample(long WorkingSet, PoolStats Pool, long GcHeap, long GcFragmented, long GcCommitted);

    /// <summary>Ends the current stage (its line is printed) and starts <paramref name="stage"/>.</summary>
    public static void Stage(string stage)
    {
        if (!Enabled) return;
        lock (Gate)
        {
            if (_sampler == null)
            {
                _sampler = new Thread(Run) { IsBackground = true, Name = "pisa memory trace" };
                _sampler.Start();
            }
            TakeSample();
            Print();
            _stage = stage;
            _peak = default;
        }
    }

    private static void Run()
    {
        while (true)
        {
            Thread.Sleep(20);
            lock (Gate) TakeSample();
        }
    }

    private static void TakeSample()
    {
        long ws = Environment.WorkingSet;
        if (ws <= _peak.WorkingSet) return;
        var gc = GC.GetGCMemoryInfo(GCKind.Any);
        _peak = new Sample(ws, CpuBufferPool.Shared.Stats(), gc.HeapSizeBytes, gc.FragmentedBytes, gc.TotalCommittedBytes);
    }

    private static void Print()
    {
        static string M(long b) => $"{b / 1048576.0:F0}";
        var p = _peak;
        Console.Error.WriteLine($"pisa memory trace: {_stage}: peak working set {M(p.WorkingSet)} MiB; then pool live {M(p.Pool.LiveBytes)} MiB, " +
            $"free {M(p.Pool.PooledBytes)} MiB; GC heap {M(p.GcHeap)} MiB (fragmented {M(p.GcFragmented)}, committed {M(p.GcCommitted)}) at the last GC; " +
            $"process peak so far {M(System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64)} MiB");
    }
}
