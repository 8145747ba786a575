using PiSa.Engine.Api;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;
using static PiSa.Tests.Api.PisaUpscalerTests;

namespace PiSa.Tests.Api;

/// <summary>Tests that read the process-wide CPU buffer pool's counters: run alone, so no other test's tensors
/// come and go meanwhile.</summary>
[CollectionDefinition(nameof(PoolCountersCollection), DisableParallelization = true)]
public sealed class PoolCountersCollection;

/// <summary>Issue 11, item 1: "a cancelled call frees what it held".</summary>
[Collection(nameof(PoolCountersCollection))]
public sealed class CancelFreesTests
{
    private static long Live => CpuBufferPool.Shared.Stats().LiveBytes;

    [Fact]
    public async Task A_call_cancelled_mid_stage_returns_every_buffer_it_rented()
    {
        using var up = PisaUpscaler.Load(TinyOptions);
        var input = ImageIO.Load(Path.Combine(FixturePaths.Tiny, "inputs", "lq_e.png"));
        // lq_e (128x96 model input, 16x12 latent) in tiles: VAE encoder tiles of 32 pixels, UNet tiles of 8. The
        // activations (above the pool's minimum size, so counted) are alive when the call is cancelled after a
        // stage's first tile. (The decoder's padding leaves this latent untiled.)
        var o = Small with { VaeEncoderTile = 32, LatentTile = 8, LatentOverlap = 2 };
        await up.UpscaleAsync(input, o);   // warm: the prompt's embedding and the weights are cached from here on
        long before = Live;

        // The counter sees a tensor held on the backend (so the check below can fail)...
        var held = await up.RunAsync((p, _) => p.RunLatentPathHeld(up.Model));
        Assert.True(Live > before, "a held tensor does not show in the pool's live bytes");
        await up.RunAsync((_, _) => { held.Dispose(); return 0; });
        Assert.Equal(before, Live);

        // ...and a cancelled call holds none once its task has ended.
        foreach (var stage in new[] { "vae encode", "unet" })
        {
            using var cts = new CancellationTokenSource();
            bool cancelledMidStage = false;
            var progress = new SyncProgress<UpscaleProgress>(p =>
            {
                if (p.Stage == stage && p.Tile == 1) { cancelledMidStage = true; cts.Cancel(); }
            });
            var call = up.UpscaleAsync(input, o, progress, cts.Token);
            try { await call; } catch (OperationCanceledException) { }
            Assert.True(cancelledMidStage, $"no {stage} tile was reported");
            Assert.True(call.IsCanceled, $"cancelled in {stage}, the call ended {call.Status}");
            Assert.Equal(before, Live);
        }
    }
}

internal static class HeldTensor
{
    /// <summary>A decoder-sized tensor rented from the pool and kept: what a leak would look like.</summary>
    public static Engine.Backends.DeviceTensor RunLatentPathHeld(this UpscalePipeline _, PisaModel model)
    {
        using var x = model.Ops.Upload(new Engine.Tensors.HostTensor([1, 64, 64, 32], new float[64 * 64 * 32]));
        return model.Ops.ScaleShift(x, 2, 1);
    }
}
