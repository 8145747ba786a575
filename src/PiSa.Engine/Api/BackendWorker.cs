using System.Collections.Concurrent;

namespace PiSa.Engine.Api;

/// <summary>
/// One thread that runs every piece of backend work, first come first served. Backends and model caches are not
/// thread-safe, and a GPU runs one stream's work in order anyway: funnelling all of it through one thread keeps
/// it ordered on the backend's stream without locks in the engine. Work cancelled while it waits is dropped
/// without running; work cancelled while it runs stops at the pipeline's next check.
/// </summary>
internal sealed class BackendWorker : IDisposable
{
    private abstract class Item
    {
        public abstract void Run();
    }

    private sealed class Item<T>(Func<CancellationToken, T> work, CancellationToken ct) : Item
    {
        public readonly TaskCompletionSource<T> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration;

        public override void Run()
        {
            Registration.Dispose();
            if (Completion.Task.IsCompleted) return; // cancelled while waiting
            if (ct.IsCancellationRequested) { Completion.TrySetCanceled(ct); return; }
            try { Completion.TrySetResult(work(ct)); }
            catch (OperationCanceledException e) when (ct.IsCancellationRequested) { Completion.TrySetCanceled(e.CancellationToken); }
            catch (Exception e) { Completion.TrySetException(e); }
        }
    }

    private readonly BlockingCollection<Item> _queue = new();
    private readonly Thread _thread;
    private int _pending;

    public BackendWorker(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Calls waiting or running.</summary>
    public int Pending => Volatile.Read(ref _pending);

    public Task<T> Enqueue<T>(Func<CancellationToken, T> work, CancellationToken ct)
    {
        var item = new Item<T>(work, ct);
        if (ct.IsCancellationRequested) return Task.FromCanceled<T>(ct);
        Interlocked.Increment(ref _pending);
        item.Registration = ct.Register(() => item.Completion.TrySetCanceled(ct));
        try { _queue.Add(item); }
        catch (InvalidOperationException)
        {
            Interlocked.Decrement(ref _pending);
            item.Registration.Dispose();
            throw new ObjectDisposedException(nameof(PisaUpscaler), "the upscaler is shutting down");
        }
        return item.Completion.Task;
    }

    private void Loop()
    {
        foreach (var item in _queue.GetConsumingEnumerable())
        {
            try { item.Run(); }
            finally { Interlocked.Decrement(ref _pending); }
        }
    }

    /// <summary>Refuses new work, lets what was queued finish, and waits for the thread.</summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _queue.Dispose();
    }
}
