using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace PiSa.Serve;

/// <summary>
/// Counters and histograms for /metrics in the Prometheus text format (version 0.0.4): requests by route and
/// status, errors, queue depth, per-stage latency histograms, device memory. Lock-free counters; the histograms
/// take a small lock per observation (a few per image).
/// </summary>
public sealed class ServeMetrics
{
    private static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    private sealed class Histogram
    {
        public readonly long[] Counts = new long[Buckets.Length];
        public long Count;
        public double Sum;
    }

    private readonly ConcurrentDictionary<(string Route, int Status), long> _requests = new();
    private readonly ConcurrentDictionary<string, Histogram> _stages = new(StringComparer.Ordinal);
    private long _errors, _images;

    public void Request(string route, int status)
    {
        _requests.AddOrUpdate((route, status), 1, (_, n) => n + 1);
        if (status >= 400) Interlocked.Increment(ref _errors);
    }

    public void ImageDone() => Interlocked.Increment(ref _images);

    public void Observe(string stage, double seconds)
    {
        var h = _stages.GetOrAdd(stage, _ => new Histogram());
        lock (h)
        {
            for (int i = 0; i < Buckets.Length; i++) if (seconds <= Buckets[i]) h.Counts[i]++;
            h.Count++;
            h.Sum += seconds;
        }
    }

    public string Render(int queueDepth, int queueCapacity, long? peakDeviceBytes, string backend)
    {
        var sb = new StringBuilder();
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        sb.Append("# HELP pisa_requests_total HTTP requests by route and status.\n# TYPE pisa_requests_total counter\n");
        foreach (var ((route, status), n) in _requests.OrderBy(k => k.Key.Route, StringComparer.Ordinal).ThenBy(k => k.Key.Status))
            sb.Append($"pisa_requests_total{{route=\"{Escape(route)}\",status=\"{status}\"}} {n}\n");
        sb.Append($"# HELP pisa_errors_total HTTP responses with status 400 or above.\n# TYPE pisa_errors_total counter\npisa_errors_total {Interlocked.Read(ref _errors)}\n");
        sb.Append($"# HELP pisa_images_total Images upscaled.\n# TYPE pisa_images_total counter\npisa_images_total {Interlocked.Read(ref _images)}\n");
        sb.Append($"# HELP pisa_queue_depth Images admitted and not finished (waiting or running).\n# TYPE pisa_queue_depth gauge\npisa_queue_depth {queueDepth}\n");
        sb.Append($"# HELP pisa_queue_capacity Images that may be admitted at once.\n# TYPE pisa_queue_capacity gauge\npisa_queue_capacity {queueCapacity}\n");
        sb.Append("# HELP pisa_stage_seconds Time per pipeline stage of one image.\n# TYPE pisa_stage_seconds histogram\n");
        foreach (var (stage, h) in _stages.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            lock (h)
            {
                string s = Escape(stage);
                for (int i = 0; i < Buckets.Length; i++)
                    sb.Append($"pisa_stage_seconds_bucket{{stage=\"{s}\",le=\"{F(Buckets[i])}\"}} {h.Counts[i]}\n");
                sb.Append($"pisa_stage_seconds_bucket{{stage=\"{s}\",le=\"+Inf\"}} {h.Count}\n");
                sb.Append($"pisa_stage_seconds_sum{{stage=\"{s}\"}} {F(h.Sum)}\npisa_stage_seconds_count{{stage=\"{s}\"}} {h.Count}\n");
            }
        }
        sb.Append("# HELP pisa_device_peak_bytes Peak device memory of the backend (absent where the backend reports none).\n# TYPE pisa_device_peak_bytes gauge\n");
        if (peakDeviceBytes is { } peak) sb.Append($"pisa_device_peak_bytes{{backend=\"{backend}\"}} {peak}\n");
        sb.Append($"# HELP pisa_managed_heap_bytes Managed heap size of the server process.\n# TYPE pisa_managed_heap_bytes gauge\npisa_managed_heap_bytes {GC.GetTotalMemory(false)}\n");
        return sb.ToString();
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
