using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Bench;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;
using Xunit.Abstractions;

namespace PiSa.Tests.Pipeline;

/// <summary>
/// Issue 9 item 9 as far as it can be checked without a GPU: the planned GPU memory of the SD 2.1 shapes on the CUDA
/// backend (512x512 default under 4 GB, 2048x2048 tiled under 12 GB; an upper bound, see DeviceMemoryEstimator, whose
/// figures the interpreter's measured pool peak is checked against in DeviceMemoryOnInterpreterTests), and
/// the seams of tiling: tiled against untiled output of the tiny model (UNet latent tiles and VAE encoder and decoder
/// tiles all active), whose PSNR the test log reports.
/// </summary>
public sealed class DeviceMemoryPlanTests(ITestOutputHelper log)
{
    private static ModelFootprint Sd21Footprint()
    {
        using var ops = new CpuOps();
        using var model = RandomModel.Create(ops, Path.Combine(FixturePaths.Fixtures, "sd21-base"));
        return ModelFootprint.Of(model);
    }

    /// <summary>The plan for the SD 2.1 shapes, printed, with the parts that must hold whatever the targets.</summary>
    [Fact]
    public void Planned_gpu_memory_of_sd21_is_reported_and_grows_with_the_image()
    {
        var f = Sd21Footprint();
        Assert.InRange(f.UNetParams, 850_000_000, 880_000_000);   // SD 2.1-base's 865 M: the real shapes, not the tiny ones
        var o = new UpscaleOptions();
        var at512 = DeviceMemoryEstimator.ForModelInput(f, 512, 512, o);
        var at2048 = DeviceMemoryEstimator.ForModelInput(f, 2048, 2048, o);
        log.WriteLine($"512x512 default: {at512.Describe()}");
        log.WriteLine($"2048x2048 default (tiled): {at2048.Describe()}");
        log.WriteLine($"512x512 adjustable: {DeviceMemoryEstimator.ForModelInput(f, 512, 512, o with { Mode = LoraMode.Adjustable }).Describe()}");
        Assert.True(LatentTiling.IsActive(256, 256, o.LatentTile), "2048x2048 is expected to tile the UNet by default");
        Assert.True(at512.WeightBytes > 2L * (f.UNetParams + f.VaeParams + f.TextParams), at512.Describe());   // fp16, every set
        Assert.True(at2048.ActivationBytes > 8 * at512.ActivationBytes, "activations must grow with the image");
        Assert.True(DeviceMemoryEstimator.ForModelInput(f, 512, 512, o with { Mode = LoraMode.Adjustable }).WeightBytes > at512.WeightBytes);
    }

    /// <summary>Issue 9 item 9's targets on the plan, in decimal gigabytes (4e9 and 12e9 bytes): 512x512 default and
    /// 2048x2048 (UNet latent tiles and VAE tiles, the defaults) on the SD 2.1-base configs. Before the device released
    /// the text encoder, trimmed its pool between stages and parked waiting VAE tiles, the plan was 4.06 GiB and
    /// 15.6 GiB; the adjustable mode at 512 is printed (no target).</summary>
    [Fact]
    public void Planned_gpu_memory_of_sd21_is_under_4_GB_at_512_and_12_GB_at_2048_tiled()
    {
        var f = Sd21Footprint();
        var o = new UpscaleOptions();
        var at512 = DeviceMemoryEstimator.ForModelInput(f, 512, 512, o);
        var at2048 = DeviceMemoryEstimator.ForModelInput(f, 2048, 2048, o);
        var adjustable = DeviceMemoryEstimator.ForModelInput(f, 512, 512, o with { Mode = LoraMode.Adjustable });
        var heldOnDevice = DeviceMemoryEstimator.ForModelInput(f, 2048, 2048, o with { ParkVaeTiles = false }, stagesAddUp: true);
        log.WriteLine($"512x512 default: {at512.Total / 1e9:F2} GB, {at512.Describe()}");
        log.WriteLine($"2048x2048 tiled: {at2048.Total / 1e9:F2} GB, {at2048.Describe()}");
        log.WriteLine($"512x512 adjustable: {adjustable.Total / 1e9:F2} GB, {adjustable.Describe()}");
        log.WriteLine($"2048x2048 tiled, tiles on the device and the pool kept between stages: {heldOnDevice.Total / 1e9:F2} GB");
        Assert.True(at512.Total < 4_000_000_000L, at512.Describe());
        Assert.True(at2048.Total < 12_000_000_000L, at2048.Describe());
        // The releases are what meets the target at 2048: without them the plan is far over it.
        Assert.True(heldOnDevice.Total > 12_000_000_000L, $"{heldOnDevice.Total} B");
    }

    private static double Psnr(HostTensor a, HostTensor b)
    {
        double mse = 0;
        for (int i = 0; i < a.Data.Length; i++) { double d = (a.Data[i] - b.Data[i]) / 2.0; mse += d * d; }   // [-1, 1] -> [0, 1]
        mse /= a.Data.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(1 / mse);
    }

    [Fact]
    public void Tiled_and_untiled_outputs_of_the_tiny_model_agree_and_the_psnr_is_reported()
    {
        using var ops = new CpuOps();
        using var model = TinyFixtureModel.Load(ops);
        var pipeline = new UpscalePipeline(model);
        var untiled = new UpscaleOptions { ProcessSize = 256 };
        // 256 px model input, 32 px latent: encoder 256 > 64 + 2*32, decoder 32 > 8 + 2*11, UNet 32 > 16.
        var cases = new (string Name, UpscaleOptions O, double MinPsnr)[]
        {
            // Floors 2 to 3 dB under what this test measured on the CPU (22.2, 36.6, 24.9, 21.0 dB): a regression guard, not a
            // quality claim. Tiles this small on a random tiny model are a worst case: the official VAEHook tiling pools
            // GroupNorm statistics over tiles (exact) but each tile's convolutions see only its padded context.
            ("VAE encoder tiles of 64 px", untiled with { VaeEncoderTile = 64 }, 20),
            ("VAE decoder tiles of 8 latent px", untiled with { VaeDecoderTile = 8 }, 33),
            ("UNet latent tiles of 16 (overlap 8)", untiled with { LatentTile = 16, LatentOverlap = 8 }, 22),
            ("all three", untiled with { VaeEncoderTile = 64, VaeDecoderTile = 8, LatentTile = 16, LatentOverlap = 8 }, 19),
        };
        var x = Preprocess.Run(BenchRunner.RandomImage(64, 64, 5), untiled.Upscale, untiled.ProcessSize).ModelInput;
        HostTensor reference = pipeline.RunLatentPath(x, untiled);
        foreach (var (name, o, floor) in cases)
        {
            var y = pipeline.RunLatentPath(x, o);
            Assert.Equal(reference.Shape, y.Shape);
            double psnr = Psnr(reference, y);
            log.WriteLine($"tiny model, 256x256, {name} vs untiled: PSNR {psnr:F1} dB");
            Assert.True(double.IsFinite(psnr), $"{name}: the tiled run did not tile (identical output)");
            Assert.True(psnr > floor, $"{name}: PSNR {psnr:F1} dB, under {floor} dB");
        }
    }
}
