using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Models.Unet;
using PiSa.Engine.Tensors;
using static PiSa.Tests.Models.UnetClip.UnetClipFixtures;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>
/// Cross-attention K and V are projected once per context tensor (the cached prompt embedding) and reused on later
/// passes; a different context (even a new tensor with other values) is projected again, so the cache can never
/// serve stale keys. Results with and without the cache are the same numbers.
/// </summary>
public class CrossAttentionCacheTests
{
    private static int Projections(UNet2DConditionModel u) => u.Attentions.Sum(a => a.ContextProjections);
    private static int CrossLayers(UNet2DConditionModel u) => u.Attentions.Count(a => !a.SelfAttention);

    [Fact]
    public void Kv_of_one_context_is_projected_once_and_a_new_context_is_projected_again()
    {
        using var ops = new CpuOps();
        var cfg = UnetConfig();
        using var unet = new UNet2DConditionModel(cfg, UnetWeights(), ops);
        int cross = CrossLayers(unet);
        Assert.True(cross > 0, "the tiny UNet has cross-attention layers");

        using var x = ops.Upload(ToNhwc(RandomNchw([1, cfg.InChannels, 6, 6], seed: 5)));
        var ctxA = Module("unet.in.encoder_hidden_states");
        var ctxB = new HostTensor(ctxA.Shape, ctxA.Data.Select((v, i) => v + 0.5f * MathF.Sin(i)).ToArray());
        using var a = ops.Upload(ctxA);
        using var b = ops.Upload(ctxB);

        using var y1 = unet.Forward(x, 1f, a);
        Assert.Equal(cross, Projections(unet));
        using var y2 = unet.Forward(x, 1f, a);
        Assert.Equal(cross, Projections(unet));                  // second pass: every K/V from the cache
        Assert.Equal(ops.Download(y1).Data, ops.Download(y2).Data);

        using var y3 = unet.Forward(x, 1f, b);
        Assert.Equal(2 * cross, Projections(unet));              // another context: projected again
        using var fresh = new UNet2DConditionModel(cfg, UnetWeights(), ops);
        using var yB = fresh.Forward(x, 1f, b);
        Assert.Equal(ops.Download(yB).Data, ops.Download(y3).Data);
        Assert.NotEqual(ops.Download(y1).Data, ops.Download(y3).Data);

        unet.Dispose();                                          // frees the cache; the model stays usable
        using var y4 = unet.Forward(x, 1f, b);
        Assert.Equal(3 * cross, Projections(unet));
        Assert.Equal(ops.Download(yB).Data, ops.Download(y4).Data);
    }
}
