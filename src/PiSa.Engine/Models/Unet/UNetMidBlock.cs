using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;

namespace PiSa.Engine.Models.Unet;

/// <summary>
/// diffusers UNetMidBlock2DCrossAttn (num_layers 1): resnet, then (Transformer2DModel, resnet); resnets use
/// mid_block_scale_factor as output scale; heads = the last down block's.
/// </summary>
public sealed class UNetMidBlock
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Transformer2DModel[] _attentions;

    public UNetMidBlock(IOps ops, IWeightSource w, UNetConfig cfg)
    {
        const int layers = 1;
        _resnets = new ResnetBlock2D[layers + 1];
        _attentions = new Transformer2DModel[layers];
        for (int i = 0; i <= layers; i++)
            _resnets[i] = new ResnetBlock2D(ops, w, $"mid_block.resnets.{i}", cfg.NormNumGroups, cfg.NormEps,
                hasTimeEmbedding: true, outputScaleFactor: cfg.MidBlockScaleFactor);
        for (int i = 0; i < layers; i++)
            _attentions[i] = new Transformer2DModel(ops, w, $"mid_block.attentions.{i}", cfg.AttentionHeads[^1],
                cfg.NormNumGroups, cfg.TransformerLayersPerBlock, cfg.UseLinearProjection, onlyCrossAttention: false);
    }

    /// <summary>The block's resnets (the UNet folds the constant time embedding into them).</summary>
    public IReadOnlyList<ResnetBlock2D> Resnets => _resnets;
    public IEnumerable<MultiHeadAttention> Attentions => _attentions?.SelectMany(t => t.Attentions) ?? [];

    /// <summary>x NHWC, not disposed.</summary>
    public DeviceTensor Forward(DeviceTensor x, DeviceTensor? tembAct, DeviceTensor context)
    {
        var h = _resnets[0].Forward(x, tembAct);
        for (int i = 0; i < _attentions.Length; i++)
        {
            var a = _attentions[i].Forward(h, context);
            h.Dispose();
            h = _resnets[i + 1].Forward(a, tembAct);
            a.Dispose();
        }
        return h;
    }
}
