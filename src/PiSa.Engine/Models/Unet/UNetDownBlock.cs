using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;

namespace PiSa.Engine.Models.Unet;

/// <summary>
/// diffusers CrossAttnDownBlock2D (resnet then Transformer2DModel, per layer) or DownBlock2D (resnets only),
/// then an optional Downsample2D. Every layer's output is kept as a skip connection for the up path.
/// </summary>
public sealed class UNetDownBlock
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Transformer2DModel[]? _attentions;
    private readonly Downsample2D? _downsampler;

    public UNetDownBlock(IOps ops, IWeightSource w, UNetConfig cfg, int index, bool crossAttention, bool addDownsample)
    {
        string prefix = $"down_blocks.{index}";
        int layers = cfg.LayersPerBlock;
        _resnets = new ResnetBlock2D[layers];
        for (int i = 0; i < layers; i++)
            _resnets[i] = new ResnetBlock2D(ops, w, $"{prefix}.resnets.{i}", cfg.NormNumGroups, cfg.NormEps, hasTimeEmbedding: true);
        if (crossAttention)
        {
            _attentions = new Transformer2DModel[layers];
            for (int i = 0; i < layers; i++)
                _attentions[i] = new Transformer2DModel(ops, w, $"{prefix}.attentions.{i}", cfg.AttentionHeads[index],
                    cfg.NormNumGroups, cfg.TransformerLayersPerBlock, cfg.UseLinearProjection, cfg.OnlyCrossAttention);
        }
        if (addDownsample) _downsampler = new Downsample2D(ops, w, $"{prefix}.downsamplers.0", cfg.DownsamplePadding);
    }

    /// <summary>The block's resnets (the UNet folds the constant time embedding into them).</summary>
    public IReadOnlyList<ResnetBlock2D> Resnets => _resnets;
    public IEnumerable<MultiHeadAttention> Attentions => _attentions?.SelectMany(t => t.Attentions) ?? [];

    /// <summary>
    /// Reads its input from skips[^1] and appends each layer's output (and the downsampled one) to
    /// <paramref name="skips"/>, which owns them; the block's result is the last element.
    /// </summary>
    public void Forward(List<DeviceTensor> skips, DeviceTensor? tembAct, DeviceTensor context)
    {
        for (int i = 0; i < _resnets.Length; i++)
        {
            var h = _resnets[i].Forward(skips[^1], tembAct);
            if (_attentions != null)
            {
                var a = _attentions[i].Forward(h, context);
                h.Dispose();
                h = a;
            }
            skips.Add(h);
        }
        if (_downsampler != null) skips.Add(_downsampler.Forward(skips[^1]));
    }
}
