using System.Diagnostics;
using PiSa.Engine;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Bench;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;
using Xunit.Abstractions;

namespace PiSa.Tests.Pipeline;

/// <summary>Runs alone: these tests read the process-wide CPU buffer pool's counters.</summary>
[CollectionDefinition(nameof(PoolCounters), DisableParallelization = true)]
public sealed class PoolCounters;

/// <summary>The memory estimate against what the tiny model really uses, and the planner's decisions.</summary>
[Collection(nameof(PoolCounters))]
public sealed class MemoryBudgetTests(ITestOutputHelper log)
{
    private static PisaModel TinyModel(CpuOps ops) =>
        TinyFixtureModel.Load(ops);

    [Theory]
    [InlineData(32, 64)]    // no VAE tiling
    [InlineData(96, 384)]   // 384 px model input: latent 48, decoder untiled, UNet untiled
    [InlineData(160, 640)]  // 640 px: latent 80 > the 64 latent tile below -> latent tiling
    public void Activation_estimate_bounds_the_measured_pool_peak_and_is_not_wildly_above(int input, int processSize)
    {
        using var ops = new CpuOps();
        using var model = TinyModel(ops);
        var pipeline = new UpscalePipeline(model);
        var o = new UpscaleOptions { ProcessSize = processSize, LatentTile = 64, LatentOverlap = 16 };
        var image = BenchRunner.RandomImage(input, input, 7);
        ops.ReleaseCachedMemory(); // only this size's arrays in the pool
        pipeline.Run(image, o); // warm: the prompt is cached and the pool holds this size's arrays
        CpuBufferPool.Shared.ResetPeaks();
        var before = CpuBufferPool.Shared.Stats();
        pipeline.Run(image, o);
        var after = CpuBufferPool.Shared.Stats();

        var est = MemoryEstimator.ForImage(ModelFootprint.Of(model), "cpu", input, input, o);
        long measured = after.PeakLiveBytes + after.PeakPooledBytes;
        long estimated = est.ActivationBytes - MemoryEstimator.SmallArrayBytes - CpuBufferPool.CollectAfterDroppedBytes;   // what the pool counts
        log.WriteLine($"{input}px -> {est.ModelWidth}px: measured pool peak {measured >> 20} MiB (live {after.PeakLiveBytes >> 20}, free {after.PeakPooledBytes >> 20}; before {before.PooledBytes >> 20} free), estimated {estimated >> 20} MiB");
        Assert.True(estimated >= measured, $"estimate {estimated} below the measured {measured}");
        Assert.True(estimated <= 4 * measured + (8L << 20), $"estimate {estimated} is more than 4x the measured {measured}");
    }

    [Fact]
    public void Estimate_grows_with_the_image_and_counts_weights_once_on_the_cpu_where_they_can_be_read_again()
    {
        using var ops = new CpuOps();
        using var model = TinyModel(ops);
        var f = ModelFootprint.Of(model);
        Assert.True(f.UNetBaseReloadable && f.VaeReloadable && f.TextReloadable);   // memory-mapped safetensors
        var o = new UpscaleOptions();
        var small = MemoryEstimator.ForImage(f, "cpu", 128, 128, o);
        var large = MemoryEstimator.ForImage(f, "cpu", 256, 256, o);
        Assert.True(large.ActivationBytes > 2 * small.ActivationBytes);
        // Packed, float copies released: once (plus the slack), as the host copy on CUDA.
        Assert.InRange(small.WeightBytes - MemoryEstimator.WeightGarbageBytes, 4 * (f.UNetParams + f.VaeParams),
            (long)(1.2 * 4 * (f.UNetParams + f.VaeParams + f.LoraParams)));
        Assert.Equal(MemoryEstimator.ForImage(f, "cuda", 128, 128, o).WeightBytes, small.WeightBytes);
        // Sources that cannot re-read (in-memory dictionaries): the float copy stays beside the packed one.
        var held = f with { UNetBaseReloadable = false, VaeReloadable = false, TextReloadable = false };
        Assert.True(MemoryEstimator.ForImage(held, "cpu", 128, 128, o).WeightBytes >= 2 * 4 * (f.UNetParams + f.VaeParams));
        // Adjustable mode holds two merged UNet sets.
        Assert.True(MemoryEstimator.ForImage(f, "cpu", 128, 128, o with { Mode = LoraMode.Adjustable }).WeightBytes > small.WeightBytes);
    }

    [Fact]
    public void Fused_attention_projections_are_counted_once_more_per_unet_set_unless_their_parts_are_released()
    {
        using var ops = new CpuOps();
        using var model = TinyModel(ops);
        var reloadable = ModelFootprint.Of(model);
        Assert.True(reloadable.FusedProjectionParams > 0 && reloadable.FusedProjectionParams < reloadable.UNetParams);
        // Reloadable parts are released once concatenated: the fused copy replaces them, no extra.
        foreach (var mode in new[] { LoraMode.Default, LoraMode.Adjustable, LoraMode.Fused })
            Assert.Equal(MemoryEstimator.WeightBytes(reloadable with { FusedProjectionParams = 0 }, true, mode),
                MemoryEstimator.WeightBytes(reloadable, true, mode));
        var f = reloadable with { UNetBaseReloadable = false };
        var without = f with { FusedProjectionParams = 0 };
        foreach (var (mode, sets) in new[] { (LoraMode.Default, 1), (LoraMode.Adjustable, 2), (LoraMode.Fused, 3) })
            foreach (bool cpu in new[] { true, false })
            {
                long extra = MemoryEstimator.WeightBytes(f, cpu, mode) - MemoryEstimator.WeightBytes(without, cpu, mode);
                Assert.InRange(extra, (long)(4 * sets * f.FusedProjectionParams * 1.09), (long)(4 * sets * f.FusedProjectionParams * 1.11) + 1);
            }
    }

    [Fact]
    public void Sixteen_bit_alpha_and_grid_inputs_add_their_host_images_only()
    {
        using var ops = new CpuOps();
        using var model = TinyModel(ops);
        var f = ModelFootprint.Of(model);
        var o = new UpscaleOptions { Mode = LoraMode.Adjustable };
        foreach (int side in new[] { 64, 200 }) // enlarged (resize_flag) and not
        {
            var plain = MemoryEstimator.ForImage(f, "cpu", side, side, o);
            Assert.Equal(plain, MemoryEstimator.ForImage(f, "cpu", side, side, o, HostImages.Default));
            var deep = MemoryEstimator.ForImage(f, "cpu", side, side, o, new HostImages(Deep: true));
            var alpha = MemoryEstimator.ForImage(f, "cpu", side, side, o, new HostImages(Alpha: true));
            var grid4 = MemoryEstimator.ForImage(f, "cpu", side, side, o, new HostImages(Outputs: 4));
            var grid9 = MemoryEstimator.ForImage(f, "cpu", side, side, o, new HostImages(Outputs: 9));
            Assert.True(deep.ImageBytes > plain.ImageBytes);
            Assert.True(alpha.ImageBytes > plain.ImageBytes);
            Assert.True(grid9.ImageBytes > grid4.ImageBytes && grid4.ImageBytes > plain.ImageBytes);
            // Each further grid image keeps at least its decoded float output (3 floats per model pixel).
            Assert.True(grid4.ImageBytes - plain.ImageBytes >= 3 * 12L * plain.ModelWidth * plain.ModelHeight);
            foreach (var e in new[] { deep, alpha, grid4, grid9 })
                Assert.Equal((plain.WeightBytes, plain.ActivationBytes), (e.WeightBytes, e.ActivationBytes));
        }
    }

    [Theory]
    [InlineData(16384, 1)]
    [InlineData(1, 16384)]
    [InlineData(4096, 2)]
    public void Extreme_sizes_are_refused_in_well_under_a_second(int w, int h)
    {
        using var ops = new CpuOps();
        using var model = TinyModel(ops);
        var f = ModelFootprint.Of(model);
        var budget = new MemoryBudget(16L << 30, "test");
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<PisaException>(() => MemoryPlanner.Plan(f, "cpu", w, h, new UpscaleOptions(), budget, tilingIsAutomatic: true));
        sw.Stop();
        log.WriteLine($"{w}x{h}: {sw.ElapsedMilliseconds} ms: {e.Message}");
        Assert.True(sw.ElapsedMilliseconds < 1000, $"refusal took {sw.ElapsedMilliseconds} ms");
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains($"{w}x{h}", e.Message);
    }

    [Fact]
    public void Automatic_tiling_picks_smaller_tiles_when_the_default_does_not_fit_and_explicit_tiling_is_refused()
    {
        using var ops = new CpuOps();
        using var model = TinyModel(ops);
        var f = ModelFootprint.Of(model);
        // 512x512 input -> 2048 px model input: VAE encoder and decoder tiled, UNet tiled.
        var o = new UpscaleOptions();
        var dflt = MemoryEstimator.ForImage(f, "cpu", 512, 512, o);
        var smallest = MemoryEstimator.ForImage(f, "cpu", 512, 512, o with { LatentTile = 64, LatentOverlap = 21, VaeEncoderTile = 256, VaeDecoderTile = 64 });
        log.WriteLine($"default tiles {dflt.Describe()}; smallest {smallest.Describe()}");
        Assert.True(smallest.Total < dflt.Total);
        var budget = new MemoryBudget((dflt.Total + smallest.Total) / 2, "test");
        var notices = new List<string>();
        var plan = MemoryPlanner.Plan(f, "cpu", 512, 512, o, budget, tilingIsAutomatic: true, notices.Add);
        Assert.True(plan.Total <= budget.Bytes);
        Assert.True(plan.Options.VaeDecoderTile < o.VaeDecoderTile || plan.Options.VaeEncoderTile < o.VaeEncoderTile || plan.Options.LatentTile < o.LatentTile);
        Assert.Single(notices);
        var e = Assert.Throws<PisaException>(() => MemoryPlanner.Plan(f, "cpu", 512, 512, o, budget, tilingIsAutomatic: false));
        Assert.Contains("memory budget", e.Message);
        // And a run that fits comes back unchanged.
        Assert.Same(o, MemoryPlanner.Plan(f, "cpu", 512, 512, o, new MemoryBudget(1L << 40, "test"), tilingIsAutomatic: true).Options);
    }

    [Theory]
    [InlineData("16G", 16L << 30)]
    [InlineData("9.5GiB", (long)(9.5 * (1L << 30)))]
    [InlineData("800M", 800L << 20)]
    [InlineData("123456789", 123456789L)]
    [InlineData(" 2 gb ", 2L << 30)]
    public void Sizes_parse(string text, long bytes) => Assert.Equal(bytes, MemorySize.Parse(text, "--max-memory"));

    [Theory]
    [InlineData("lots")]
    [InlineData("12X")]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-3G")]
    public void Bad_sizes_are_refused(string text) => Assert.Throws<PisaException>(() => MemorySize.Parse(text, "--max-memory"));
}
