using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Pipeline;

namespace PiSa.Tests.Pipeline;

/// <summary>
/// `-t 0` on the GPU backends: the latent tile is chosen against the device's budget with the device estimate
/// (DeviceMemoryEstimator), the largest that fits; without a known device budget on cuda the default is used and said.
/// The interpreter stands in for the device (PISA_PTX_DEVICE_MEMORY), so the path runs without a GPU.
/// </summary>
public sealed class AutoLatentTileDeviceTests
{
    private static ModelFootprint Tiny()
    {
        using var ops = new CpuOps();
        using var model = TinyFixtureModel.Load(ops);
        return ModelFootprint.Of(model);
    }

    // 40x40 input, x4: a 160x160 model input, a 20x20 latent (candidates: untiled, 16, 8).
    private const int Side = 40;
    private static readonly UpscaleOptions Auto = new() { LatentTile = UpscaleOptions.AutomaticLatentTile, LatentOverlap = 4 };
    private static readonly MemoryBudget Host = new(64L << 30, "test host budget");

    /// <summary>The device estimate at the model input the chooser plans for this input (preprocessing's sizes).</summary>
    private static long DeviceNeed(ModelFootprint f, UpscaleOptions o)
    {
        var s = PiSa.Engine.Imaging.Preprocess.Plan(Side, Side, o.Upscale, o.ProcessSize);
        return DeviceMemoryEstimator.ForModelInput(f, s.Width8, s.Height8, o).Total;
    }

    [Fact]
    public void The_largest_tile_whose_device_estimate_fits_is_chosen()
    {
        var f = Tiny();
        var (untiled, n1) = AutoLatentTile.Choose(f, "cuda", Side, Side, Auto, Host, deviceBudget: 64L << 30);
        Assert.False(LatentTiling.IsActive(20, 20, untiled.LatentTile), n1);
        Assert.Contains("untiled", n1);
        Assert.Contains("device memory of cuda", n1);

        // One byte short of the untiled estimate: a smaller tile whose own estimate fits, if tiling the UNet lowers the
        // estimate at all. On the device only the largest stage counts (the pool is trimmed between stages), and on the
        // tiny model that is the VAE, which latent tiles do not shrink: then no tile fits and the notice says so.
        long budget = DeviceNeed(f, untiled) - 1;
        var (tiled, n2) = AutoLatentTile.Choose(f, "cuda", Side, Side, Auto, Host, deviceBudget: budget);
        var tile8 = untiled with { LatentTile = 8, LatentOverlap = 2 };
        if (DeviceNeed(f, tile8) > budget)
        {
            Assert.Contains("not even", n2);
        }
        else
        {
            Assert.True(LatentTiling.IsActive(20, 20, tiled.LatentTile), n2);
            Assert.True(tiled.LatentTile < 20 && DeviceNeed(f, tiled) <= budget, n2);
            Assert.True(tiled.LatentOverlap < tiled.LatentTile);
            var (same, _) = AutoLatentTile.Choose(f, "cuda", Side, Side, Auto, Host, deviceBudget: DeviceNeed(f, tiled));
            Assert.Equal(tiled.LatentTile, same.LatentTile);
        }
        // Exactly the untiled estimate runs untiled.
        var (exact, n3) = AutoLatentTile.Choose(f, "cuda", Side, Side, Auto, Host, deviceBudget: DeviceNeed(f, untiled));
        Assert.False(LatentTiling.IsActive(20, 20, exact.LatentTile), n3);

        var (_, none) = AutoLatentTile.Choose(f, "cuda", Side, Side, Auto, Host, deviceBudget: 1);
        Assert.Contains("not even latent tile", none);
    }

    [Fact]
    public void Cuda_without_a_known_budget_uses_the_default_and_says_so()
    {
        var (o, notice) = AutoLatentTile.Choose(Tiny(), "cuda", Side, Side, Auto, Host, deviceBudget: null);
        Assert.Equal(AutoLatentTile.DefaultTile, o.LatentTile);
        Assert.Contains("not known", notice);
    }

    [Fact]
    public void The_interpreter_plans_with_the_host_budget_unless_told_a_device_size()
    {
        var f = Tiny();
        var (o, notice) = AutoLatentTile.Choose(f, "ptx", Side, Side, Auto, new MemoryBudget(DeviceNeed(f, Auto with { LatentTile = 20 }) - 1, "host"), deviceBudget: null);
        Assert.True(LatentTiling.IsActive(20, 20, o.LatentTile), notice);

        string? saved = Environment.GetEnvironmentVariable(PtxGpuRuntime.EnvDeviceMemory);
        try
        {
            Environment.SetEnvironmentVariable(PtxGpuRuntime.EnvDeviceMemory, "3M");
            using var rt = new PtxGpuRuntime();
            Assert.Equal(3L << 20, ((PiSa.Engine.Bench.IDeviceMemoryStats)rt).DeviceBudgetBytes);
            Environment.SetEnvironmentVariable(PtxGpuRuntime.EnvDeviceMemory, null);
            Assert.Null(((PiSa.Engine.Bench.IDeviceMemoryStats)rt).DeviceBudgetBytes);
        }
        finally { Environment.SetEnvironmentVariable(PtxGpuRuntime.EnvDeviceMemory, saved); }
    }
}
