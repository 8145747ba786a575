using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Pipeline.VaeTiling;
using PiSa.Engine.Tensors;
using Xunit.Abstractions;

namespace PiSa.Tests.Pipeline;

/// <summary>
/// Each stage's part of the CPU memory estimate (MemoryEstimator.EncoderPeak, UNetStagePeak, DecoderPeak: the floats
/// live at the stage's peak) against the live bytes the buffer pool reports for that stage alone, run on random input
/// with the tiny model (SD 2.1's structure: four VAE levels, cross-attention UNet blocks, at small widths). The free
/// arrays the pool keeps are a separate term of the estimate, so only live bytes are compared here.
/// </summary>
[Collection(nameof(PoolCounters))]
public sealed class MemoryEstimatorPartsTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(256)]   // untiled VAE
    [InlineData(512)]   // decoder tiled (latent 64 > the 48 tile below)
    public void Every_stage_s_live_peak_is_within_its_part_of_the_estimate(int size)
    {
        using var ops = new CpuOps();
        using var model = TinyFixtureModel.Load(ops);
        var o = new UpscaleOptions { VaeDecoderTile = 48 };
        int l = size / 8;
        var prompt = model.PromptEmbeddings("");
        var unet = model.UNet("pisa");
        var x = Random([1, size, size, 3], 1);
        var z = Random([1, l, l, model.VaeConfig.LatentChannels], 2);

        long enc = LivePeak(ops, () => { using var t = ops.Upload(x); return TiledVae.EncodeMean(model.Vae, t, o.VaeEncoderTile); });
        long mid = LivePeak(ops, () => { using var t = ops.Upload(z); return unet.Forward(t, UpscalePipeline.Timestep, prompt); });
        long dec = LivePeak(ops, () => { using var t = ops.Upload(z); return TiledVae.Decode(model.Vae, t, o.VaeDecoderTile); });

        Check("vae encoder", enc, MemoryEstimator.EncoderPeak(model.VaeConfig, size, size, o.VaeEncoderTile));
        Check("unet", mid, MemoryEstimator.UNetStagePeak(model.UNetConfig, l, l, o));
        Check("vae decoder", dec, MemoryEstimator.DecoderPeak(model.VaeConfig, l, l, o.VaeDecoderTile));
    }

    /// <summary>The most bytes rented and not yet returned while <paramref name="stage"/> runs (its output included).</summary>
    private static long LivePeak(CpuOps ops, Func<DeviceTensor> stage)
    {
        ops.ReleaseCachedMemory();
        long before = CpuBufferPool.Shared.Stats().LiveBytes;
        CpuBufferPool.Shared.ResetPeaks();
        using (stage()) { }
        return CpuBufferPool.Shared.Stats().PeakLiveBytes - before;
    }

    private void Check(string stage, long measured, double floats)
    {
        double estimated = 4 * floats * MemoryEstimator.ActivationMargin;
        log.WriteLine($"{stage}: live peak {measured / 1048576.0:F1} MiB, its part of the estimate {estimated / 1048576.0:F1} MiB ({estimated / measured:F2}x)");
        Assert.True(measured > 0, $"{stage}: nothing measured");
        Assert.True(estimated >= measured, $"{stage}: estimate {estimated / 1048576.0:F1} MiB below the live peak {measured / 1048576.0:F1} MiB");
        Assert.True(estimated <= 3 * measured, $"{stage}: estimate {estimated / 1048576.0:F1} MiB more than 3x the live peak {measured / 1048576.0:F1} MiB");
    }

    private static HostTensor Random(int[] shape, int seed)
    {
        var rng = new Random(seed);
        var t = new HostTensor(shape, new float[ShapeUtil.Product(shape)]);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }
}
