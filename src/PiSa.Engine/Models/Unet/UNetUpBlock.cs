using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;

namespace PiSa.Engine.Models.Unet;

/// <summary>
/// diffusers CrossAttnUpBlock2D / UpBlock2D: layers_per_block + 1 layers, each concatenating the next skip
/// connection (popped from the end) to the hidden state along channels, then resnet [then Transformer2DModel];
/// then an optional Upsample2D to the spatial size of the next skip (exactly 2x when sizes divide evenly,
/// which is what diffusers' upsample_size forwarding gives for odd latent sizes).
/// </summary>
public sealed class UNetUpBlock
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Transformer2DModel[]? _attentions;
    private readonly Upsample2D? _upsampler;
    private readonly IOps _ops;

    public UNetUpBlock(IOps ops, IWeightSource w, UNetConfig cfg, int index, bool crossAttention, bool addUpsample)
    {
        _ops = ops;
        string prefix = $"up_blocks.{index}";
        int layers = cfg.LayersPerBlock + 1;
        int heads = cfg.AttentionHeads[cfg.AttentionHeads.Length - 1 - index];
        _resnets = new ResnetBlock2D[layers];
        for (int i = 0; i < layers; i++)
            _resnets[i] = new ResnetBlock2D(ops, w, $"{prefix}.resnets.{i}", cfg.NormNumGroups, cfg.NormEps, hasTimeEmbedding: true);
        if (crossAttention)
        {
            _attentions = new Transformer2DModel[layers];
            for (int i = 0; i < layers; i++)
                _attentions[i] = new Transformer2DModel(ops, w, $"{prefix}.attentions.{i}", heads,
                    cfg.NormNumGroups, cfg.TransformerLayersPerBlock, cfg.UseLinearProjection, cfg.OnlyCrossAttention);
        }
        if (addUpsample) _upsampler = new Upsample2D(ops, w, $"{prefix}.upsamplers.0");
    }

    public int Layers => _resnets.Length;

    /// <summary>The block's resnets (the UNet folds the constant time embedding into them).</summary>
    public IReadOnlyList<ResnetBlock2D> Resnets => _resnets;
    public IEnumerable<MultiHeadAttention> Attentions => _attentions?.SelectMany(t => t.Attentions) ?? [];

    /// <summary>
    /// x: NHWC, not disposed. Pops (and disposes) one skip per layer from the end of <paramref name="skips"/>.
    /// Returns a new tensor.
    /// </summary>
    public DeviceTensor Forward(DeviceTensor x, List<DeviceTensor> skips, DeviceTensor? tembAct, DeviceTensor context)
    {
        if (skips.Count < _resnets.Length)
            throw new PisaException($"UNet up block: needs {_resnets.Length} skip connections, {skips.Count} left");
        var h = x;
        for (int i = 0; i < _resnets.Length; i++)
        {
            var skip = skips[^1];
            skips.RemoveAt(skips.Count - 1);
            // resnet(concat(h, skip)), the concat read in place where the backend folds it
            var next = _resnets[i].ForwardConcat(h, skip, tembAct);
            skip.Dispose();
            if (!ReferenceEquals(h, x)) h.Dispose();
            h = next;
            if (_attentions != null)
            {
                var a = _attentions[i].Forward(h, context);
                h.Dispose();
                h = a;
            }
        }
        if (_upsampler != null)
        {
            // diffusers forwards the size of the next block's last skip (down_block_res_samples[-1] after trimming).
            int outH = skips.Count > 0 ? skips[^1].Dim(1) : 2 * h.Dim(1);
            int outW = skips.Count > 0 ? skips[^1].Dim(2) : 2 * h.Dim(2);
            var up = _upsampler.Forward(h, outH, outW);
            h.Dispose();
            h = up;
        }
        return h;
    }
}
