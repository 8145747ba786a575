using System.Diagnostics;

namespace PiSa.Engine.Pipeline;

/// <summary>
/// Wall-clock time per named pipeline stage, summed over images. The caller synchronises the backend
/// before a stage ends (<see cref="Backends.IOps.Synchronize"/>) so GPU work is charged to its own stage.
/// </summary>
public sealed class StageTimer
{
    private readonly List<string> _order = [];
    private readonly Dictionary<string, (double TotalMs, int Count)> _stages = [];

    public void Add(string stage, double ms)
    {
        if (!_stages.TryGetValue(stage, out var s)) { _order.Add(stage); s = (0, 0); }
        _stages[stage] = (s.TotalMs + ms, s.Count + 1);
    }

    /// <summary>Raised as a timed stage begins (progress reporting).</summary>
    public event Action<string>? Started;

    /// <summary>Times <paramref name="body"/> as one occurrence of <paramref name="stage"/>.</summary>
    public T Time<T>(string stage, Func<T> body)
    {
        Started?.Invoke(stage);
        MemoryTrace.Stage(stage);
        long t0 = Stopwatch.GetTimestamp();
        try { return body(); }
        finally
        {
            Add(stage, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            MemoryTrace.Stage("after " + stage);
        }
    }

    public void Time(string stage, Action body) => Time<int>(stage, () => { body(); return 0; });

    public IEnumerable<(string Stage, double TotalMs, int Count)> Stages =>
        _order.Select(name => (name, _stages[name].TotalMs, _stages[name].Count));

    /// <summary>Time summed so far for one stage (0 before its first occurrence); allocation-free.</summary>
    public double TotalMsOf(string stage) => _stages.TryGetValue(stage, out var s) ? s.TotalMs : 0;

    public double TotalMs => _stages.Values.Sum(s => s.TotalMs);
}
