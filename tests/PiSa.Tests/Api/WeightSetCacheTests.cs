using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Pipeline;

namespace PiSa.Tests.Api;

/// <summary>LoRA weight sets cached least recently used first out within a byte budget.</summary>
public sealed class WeightSetCacheTests
{
    private static PisaModel Load(CpuOps ops, long budget) =>
        TinyFixtureModel.Load(ops, budget);

    [Fact]
    public void Sets_stay_until_the_budget_forces_the_least_recently_used_out()
    {
        using var ops = new CpuOps();
        long one;
        using (var probe = Load(ops, long.MaxValue))
        {
            probe.BeginRun();
            probe.UNet("pisa");
            one = probe.WeightSets.Bytes;
        }
        Assert.True(one > 0);
        // Room for two sets of this size (all sets of the tiny model change the same modules).
        using var model = Load(ops, 2 * one);
        model.BeginRun(); var pisa = model.UNet("pisa");
        model.BeginRun(); model.UNet("fused", 0.5f, 1);
        model.BeginRun(); Assert.Same(pisa, model.UNet("pisa")); // a hit refreshes it
        model.BeginRun(); model.UNet("fused", 0.7f, 1);            // evicts fused 0.5, the least recently used
        Assert.Equal(["fused:0.7:1", "pisa"], model.WeightSets.Keys);
        Assert.Equal(1, model.WeightSets.Evictions);
        Assert.True(model.WeightSets.Bytes <= 2 * one);
    }

    [Fact]
    public void Sets_of_the_run_in_progress_are_never_evicted()
    {
        using var ops = new CpuOps();
        using var model = Load(ops, 1); // smaller than any set
        model.BeginRun();
        var pisa = model.UNet("pisa");
        model.UNet("pix");
        Assert.Same(pisa, model.UNet("pisa")); // adjustable mode's two sets survive the whole run
        Assert.Equal(0, model.WeightSets.Evictions);
        model.BeginRun();
        model.UNet("pix");
        Assert.Equal(["pix"], model.WeightSets.Keys);
    }
}
