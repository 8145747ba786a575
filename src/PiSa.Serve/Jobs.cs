using PiSa.Engine.Pipeline;

namespace PiSa.Serve;

public enum JobState { Queued, Running, Completed, Failed, Cancelled }

/// <summary>One admitted image (a /v1/upscale call, an OIP infer call, or an asynchronous job).</summary>
public sealed class Job
{
    public required string Id { get; init; }
    public required long Sequence { get; init; }
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? Finished { get; set; }
    public volatile JobState State = JobState.Queued;
    /// <summary>Last progress report (written on the backend worker, read by status requests).</summary>
    public volatile ProgressBox? Progress;
    public string? Error { get; set; }
    public int ErrorStatus { get; set; }
    public byte[]? Result { get; set; }
    public string? ContentType { get; set; }
    public double? QueueMs { get; set; }
    public double? RunMs { get; set; }
    public CancellationTokenSource Cancel { get; } = new();
    public bool CancelRequested { get; set; }
    public Task Done { get; set; } = Task.CompletedTask;

    public bool IsFinished => State is JobState.Completed or JobState.Failed or JobState.Cancelled;
}

/// <summary>A progress value in a reference (so a job's progress is swapped atomically).</summary>
public sealed record ProgressBox(UpscaleProgress Value);

/// <summary>
/// Admission and bookkeeping: at most <c>capacity</c> images admitted (waiting or running) at once, sync and async
/// together; asynchronous jobs are kept by id, the finished ones until <c>retention</c> newer ones finished or
/// their results pass <c>retentionBytes</c> together (oldest dropped first: results are whole images).
/// The backend runs admitted images in admission order (PisaUpscaler's one worker), so a job's queue position is the
/// number of unfinished images admitted before it.
/// </summary>
public sealed class JobStore(int capacity, int retention, long retentionBytes = long.MaxValue)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly LinkedList<Job> _active = new(); // admission order
    private readonly Queue<string> _finished = new();
    private long _sequence, _finishedBytes;
    private bool _closed;

    public int Capacity => capacity;

    /// <summary>Images admitted and not finished.</summary>
    public int Depth { get { lock (_lock) return _active.Count; } }

    /// <summary>A new image, or null when the queue is full. <paramref name="keep"/> registers it for /v1/jobs.</summary>
    public Job? TryAdmit(bool keep)
    {
        lock (_lock)
        {
            if (_closed || _active.Count >= capacity) return null;
            var job = new Job { Id = Guid.NewGuid().ToString("N"), Sequence = ++_sequence };
            _active.AddLast(job);
            if (keep) _jobs[job.Id] = job;
            return job;
        }
    }

    public Job? Find(string id)
    {
        lock (_lock) return _jobs.GetValueOrDefault(id);
    }

    /// <summary>Unfinished images admitted before this one (0: it is next or running).</summary>
    public int QueuePosition(Job job)
    {
        lock (_lock)
        {
            if (job.IsFinished) return 0;
            int n = 0;
            for (var node = _active.First; node != null && !ReferenceEquals(node.Value, job); node = node.Next) n++;
            return n;
        }
    }

    public void Finish(Job job, JobState state)
    {
        lock (_lock)
        {
            job.State = state;
            job.Finished = DateTimeOffset.UtcNow;
            _active.Remove(job);
            if (!_jobs.ContainsKey(job.Id)) return;
            _finished.Enqueue(job.Id);
            _finishedBytes += job.Result?.LongLength ?? 0;
            while (_finished.Count > retention || (_finishedBytes > retentionBytes && _finished.Count > 1))
            {
                if (_jobs.Remove(_finished.Dequeue(), out var old)) _finishedBytes -= old.Result?.LongLength ?? 0;
            }
        }
    }

    /// <summary>Refuses new images and returns the unfinished ones' completion (for a graceful shutdown).</summary>
    public Task CloseAndDrain()
    {
        lock (_lock)
        {
            _closed = true;
            return Task.WhenAll(_active.Select(j => j.Done).ToList());
        }
    }
}
