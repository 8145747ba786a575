using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;

namespace PiSa.Engine.Models.Unet;

/// <summary>
/// diffusers BasicTransformerBlock (norm_type "layer_norm", GEGLU feed-forward), on token sequences [B, L, C]:
/// h += attn1(norm1(h)); h += attn2(norm2(h), context); h += ff(norm3(h)) with ff = net.2(geglu(net.0.proj(.))).
/// attn1 is self-attention, or cross-attention when only_cross_attention is set. LayerNorm eps 1e-5.
/// </summary>
public sealed class BasicTransformerBlock
{
    private const float LayerNormEps = 1e-5f;
    private readonly IOps _ops;
    private readonly NormLayer _norm1, _norm2, _norm3;
    private readonly MultiHeadAttention _attn1, _attn2;
    private readonly LinearLayer _ffIn, _ffOut;
    private readonly bool _onlyCrossAttention;

    public BasicTransformerBlock(IOps ops, IWeightSource w, string prefix, int heads, bool onlyCrossAttention)
    {
        _ops = ops;
        _onlyCrossAttention = onlyCrossAttention;
        _norm1 = new NormLayer(w, prefix + ".norm1", LayerNormEps);
        _attn1 = MultiHeadAttention.Diffusers(ops, w, prefix + ".attn1", heads, selfAttention: !onlyCrossAttention);
        _norm2 = new NormLayer(w, prefix + ".norm2", LayerNormEps);
        _attn2 = MultiHeadAttention.Diffusers(ops, w, prefix + ".attn2", heads, selfAttention: false);
        _norm3 = new NormLayer(w, prefix + ".norm3", LayerNormEps);
        _ffIn = new LinearLayer(w, prefix + ".ff.net.0.proj", requireBias: true);
        _ffOut = new LinearLayer(w, prefix + ".ff.net.2", requireBias: true);
        if (_ffIn.Out != 2 * _ffOut.In)
            throw new PisaException($"{prefix}: ff.net.0.proj gives {_ffIn.Out} features, GEGLU needs twice ff.net.2's {_ffOut.In}");
    }

    /// <summary>Both attention layers (for releasing cached context projections).</summary>
    public IEnumerable<MultiHeadAttention> Attentions => [_attn1, _attn2];

    /// <summary>h: [B, L, C]; context: [B, Lc, crossDim]. Neither is disposed.</summary>
    public DeviceTensor Forward(DeviceTensor h, DeviceTensor context)
    {
        var n1 = _norm1.LayerNorm(_ops, h);
        var h1 = _attn1.Forward(n1, _onlyCrossAttention ? context : null, residual: h);
        n1.Dispose();

        var n2 = _norm2.LayerNorm(_ops, h1);
        var h2 = _attn2.Forward(n2, context, residual: h1);
        n2.Dispose();
        h1.Dispose();

        var n3 = _norm3.LayerNorm(_ops, h2);
        var g = _ffIn.ApplyGeglu(_ops, n3);
        n3.Dispose();
        var h3 = _ffOut.Apply(_ops, g, residual: h2);
        g.Dispose();
        h2.Dispose();
        return h3;
    }
}
