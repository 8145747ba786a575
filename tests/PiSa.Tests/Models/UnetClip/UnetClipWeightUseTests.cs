using PiSa.Engine;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Clip;
using PiSa.Engine.Models.Unet;
using PiSa.Engine.Tensors;
using static PiSa.Tests.Models.UnetClip.UnetClipFixtures;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>The models read every parameter of the diffusers/transformers state dicts (nothing silently ignored)
/// and fail at construction with the missing tensor's name.</summary>
public class UnetClipWeightUseTests
{
    [Fact]
    public void Unet_UsesEveryWeight()
    {
        var w = new RecordingWeightSource(UnetWeights());
        _ = new UNet2DConditionModel(UnetConfig(), w, new NaiveOps());
        Assert.Empty(w.Names.Except(w.Used.Keys).OrderBy(n => n));
    }

    [Fact]
    public void Clip_UsesEveryWeight()
    {
        var w = new RecordingWeightSource(TextWeights());
        _ = new ClipTextModel(ClipConfig(), w, new NaiveOps());
        // position_ids is a buffer (arange), not a parameter.
        Assert.Empty(w.Names.Except(w.Used.Keys).Where(n => !n.EndsWith("position_ids")).OrderBy(n => n));
    }

    [Theory]
    [InlineData("up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_k.weight")]
    [InlineData("down_blocks.1.resnets.0.conv_shortcut.bias")]
    [InlineData("time_embedding.linear_2.weight")]
    public void Unet_MissingWeight_NamesIt(string name)
    {
        var ex = Assert.Throws<PisaException>(() => new UNet2DConditionModel(UnetConfig(), new RecordingWeightSource(UnetWeights(), name), new NaiveOps()));
        Assert.Contains(name, ex.Message);
    }

    [Fact]
    public void Unet_RejectsWrongChannelCount()
    {
        using var ops = new NaiveOps();
        var unet = new UNet2DConditionModel(UnetConfig(), UnetWeights(), ops);
        using var x = ops.Upload(new HostTensor(1, 4, 4, 3));
        using var ctx = ops.Upload(new HostTensor(1, 77, UnetConfig().CrossAttentionDim));
        var ex = Assert.Throws<PisaException>(() => unet.Forward(x, 1f, ctx));
        Assert.Contains("sample", ex.Message);
    }
}
