using PiSa.Serve;

namespace PiSa.Tests.Serve;

/// <summary>Admission and retention of the server's job store.</summary>
public sealed class JobStoreTests
{
    [Fact]
    public void Capacity_bounds_admission_and_positions_follow_admission_order()
    {
        var store = new JobStore(capacity: 2, retention: 10);
        var a = store.TryAdmit(keep: true)!;
        var b = store.TryAdmit(keep: true)!;
        Assert.Null(store.TryAdmit(keep: true));
        Assert.Equal((0, 1), (store.QueuePosition(a), store.QueuePosition(b)));
        store.Finish(a, JobState.Completed);
        Assert.Equal(0, store.QueuePosition(b));
        Assert.NotNull(store.TryAdmit(keep: false));
    }

    [Fact]
    public void Finished_jobs_are_dropped_oldest_first_by_count_and_by_result_bytes()
    {
        var store = new JobStore(capacity: 10, retention: 2, retentionBytes: 250);
        var jobs = Enumerable.Range(0, 4).Select(_ => store.TryAdmit(keep: true)!).ToList();
        foreach (var j in jobs.Take(3)) { j.Result = new byte[100]; store.Finish(j, JobState.Completed); }
        Assert.Null(store.Find(jobs[0].Id));           // count: only the 2 newest finished are kept
        Assert.NotNull(store.Find(jobs[2].Id));
        jobs[3].Result = new byte[200];
        store.Finish(jobs[3], JobState.Completed);    // bytes: 100 + 200 > 250 drops the older one
        Assert.Null(store.Find(jobs[2].Id));
        Assert.NotNull(store.Find(jobs[3].Id));
    }
}
