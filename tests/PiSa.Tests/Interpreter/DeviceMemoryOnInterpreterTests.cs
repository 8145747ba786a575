using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// Issue 9 item 9 on the interpreter: what the CUDA backend holds on the device, measured on the tiny model.
/// <see cref="PtxGpuRuntime.PeakDeviceBytes"/> is the peak of the real DevicePool fed the run's allocations (what the
/// CUDA runtime would hold from the driver); it must stay at or under the device plan
/// (<see cref="DeviceMemoryEstimator"/>, an upper bound) and not far under it. The releases (text encoder weights
/// after the prompt, the pool's cache after each stage, waiting VAE tiles parked on the host) must not change the
/// output: it is compared bit for bit with a run that keeps everything on the device.
/// </summary>
public sealed class DeviceMemoryOnInterpreterTests(ITestOutputHelper log)
{
    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;

    /// <summary>CudaOps without its IWeightRelease face: the model cannot release anything (the control). Its fused
    /// ops still go to CudaOps, so the control computes what the run under test computes.</summary>
    private sealed class NoRelease(IOps inner) : DelegatingOps(inner)
    {
        protected override bool ForwardFusions => true;
    }

    private sealed record Measured(HostTensor Output, long Peak, long LivePeak, long WeightsAtEnd, DeviceMemoryEstimate Plan);

    /// <param name="holdAll">the behaviour before issue 9 item 9: no release, pool kept, tiles left on the device</param>
    private static Measured Run(int w, int h, UpscaleOptions o, bool holdAll = false)
    {
        var rt = new PtxGpuRuntime();
        using var cuda = new CudaOps(rt) { KeepPoolBetweenStages = holdAll };
        IOps ops = holdAll ? new NoRelease(cuda) : cuda;
        using var model = PisaModel.Load(Sd, Lora, ops);
        var rng = new Random(7);
        var x = new HostTensor(1, 3, h, w);
        for (int i = 0; i < x.Data.Length; i++) x.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        var run = o with { ParkVaeTiles = !holdAll };
        var y = new UpscalePipeline(model).RunLatentPath(x, run);
        var plan = DeviceMemoryEstimator.ForModelInput(ModelFootprint.Of(model), x.Dim(3), x.Dim(2), run);
        return new Measured(y, rt.PeakDeviceBytes, rt.Memory.PeakBytes, cuda.Weights.Bytes, plan);
    }

    /// <summary>One untiled 64x64 run (the smallest the tiny UNet takes; about 18 s on the interpreter, twice here): the
    /// VAE tiles' parking is lossless by construction (fp16 through float32 and back) and checked against the official
    /// tiled decode in VaeTilingTests; the tiled plan is checked against the code's own figures in DeviceMemoryPlanTests.</summary>
    [InterpreterFact]
    public void Measured_device_peak_is_within_the_plan_and_the_output_is_unchanged()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var o = new UpscaleOptions();
        var now = Run(64, 64, o);
        var before = Run(64, 64, o, holdAll: true);
        long planned = now.Plan.WeightBytes + now.Plan.ActivationBytes;   // the context is not emulated
        log.WriteLine($"64x64 default: peak {now.Peak / 1e6:F2} MB (live {now.LivePeak / 1e6:F2} MB), holding everything {before.Peak / 1e6:F2} MB " +
                      $"(live {before.LivePeak / 1e6:F2} MB); weights at the end {now.WeightsAtEnd / 1e6:F2} MB; planned without the context {planned / 1e6:F2} MB " +
                      $"({now.Plan.ActivationBytes / 1e6:F2} MB activations); {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(before.Output.Data, now.Output.Data);
        Assert.True(now.Peak <= planned, $"measured {now.Peak} B over the plan's {planned} B");
        Assert.True(now.Peak > planned / 2, $"measured {now.Peak} B, under half the plan's {planned} B: the plan no longer follows the code");
        // The total is the bound; of its parts, the activations (with the pool's cached blocks) must be the plan's within 2x.
        long activations = now.Peak - now.WeightsAtEnd;
        Assert.True(activations <= 2 * now.Plan.ActivationBytes && activations > now.Plan.ActivationBytes / 2,
            $"measured activations {activations} B against the plan's {now.Plan.ActivationBytes} B");
        Assert.True(now.Peak < before.Peak, $"releasing and trimming did not lower the peak ({now.Peak} B, before {before.Peak} B)");
    }

    /// <summary>The text encoder's device weights go as soon as the prompt embedding exists (only the text encoder runs:
    /// a second or two). The control, a model that cannot see CudaOps' IWeightRelease, still holds them: the check can fail.</summary>
    [InterpreterFact]
    public void Text_encoder_weights_leave_the_device_once_the_prompt_is_cached()
    {
        long Held(bool release, out long poolBytes, out long freed)
        {
            var rt = new PtxGpuRuntime();
            using var cuda = new CudaOps(rt);
            using var model = PisaModel.Load(Sd, Lora, release ? cuda : new NoRelease(cuda));
            var emb = model.PromptEmbeddings("");
            Assert.Equal(3, emb.Rank);
            poolBytes = rt.Pool.ReservedBytes;
            freed = model.TextDeviceBytesReleased;
            return cuda.Weights.Bytes;
        }
        long kept = Held(release: false, out long keptPool, out _);
        long held = Held(release: true, out long pool, out long freed);
        log.WriteLine($"after the prompt: {held} B of weights on the device ({freed} B released, pool {pool} B); without the release {kept} B (pool {keptPool} B)");
        Assert.True(kept > 0, "the control uploaded no text encoder weights");
        Assert.Equal(0, held);
        Assert.Equal(kept, freed);
        Assert.True(pool < keptPool - kept / 2, $"the pool still holds {pool} B: the freed weights were not given back");
    }

    /// <summary>Parking waiting VAE tiles on the host is lossless on the device (fp16 through float32 and back): the tiled
    /// encoder (two tiles of an 80x8 input, cheap on the interpreter: a few seconds) gives the same bits either way,
    /// and with parking no tile but the one being processed keeps its activation on the device.</summary>
    [InterpreterFact]
    public void Parked_vae_tiles_give_the_same_bits()
    {
        var rng = new Random(3);
        var x = new HostTensor(1, 8, 80, 3);
        for (int i = 0; i < x.Data.Length; i++) x.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        (float[] Y, long Peak, long Live) Encode(bool park)
        {
            var rt = new PtxGpuRuntime();
            using var ops = new CudaOps(rt);
            var vae = Models.Vae.AutoencoderKLTests.TinyVae(ops);
            using var input = ops.Upload(x);
            using var y = PiSa.Engine.Pipeline.VaeTiling.TiledVae.EncodeMean(vae, input, 8, park);
            return (ops.Download(y).Data, rt.PeakDeviceBytes, rt.Memory.PeakBytes);
        }
        var kept = Encode(park: false);
        var parked = Encode(park: true);
        log.WriteLine($"tiled VAE encoder, 2 tiles: peak {kept.Peak} B (live {kept.Live} B) with the tiles on the device, {parked.Peak} B (live {parked.Live} B) parked");
        Assert.Equal(kept.Y, parked.Y);
        Assert.True(parked.Peak < kept.Peak, "parking the waiting tile did not lower the device peak");
    }
}
