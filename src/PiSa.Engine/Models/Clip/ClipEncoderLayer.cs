using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;

namespace PiSa.Engine.Models.Clip;

/// <summary>
/// transformers CLIPEncoderLayer (pre-LN): h += self_attn(layer_norm1(h)) with a causal mask;
/// h += fc2(act(fc1(layer_norm2(h)))), act = exact GELU or quick_gelu (x * sigmoid(1.702 x)).
/// </summary>
public sealed class ClipEncoderLayer
{
    private readonly IOps _ops;
    private readonly NormLayer _norm1, _norm2;
    private readonly MultiHeadAttention _attn;
    private readonly LinearLayer _fc1, _fc2;
    private readonly bool _quickGelu;

    public ClipEncoderLayer(IOps ops, IWeightSource w, string prefix, ClipTextConfig cfg)
    {
        _ops = ops;
        _quickGelu = cfg.HiddenAct switch
        {
            "gelu" => false,
            "quick_gelu" => true,
            var a => throw new PisaException($"CLIP config: hidden_act '{a}' is not supported (gelu, quick_gelu)"),
        };
        _norm1 = new NormLayer(w, prefix + ".layer_norm1", cfg.LayerNormEps);
        _attn = MultiHeadAttention.Clip(ops, w, prefix + ".self_attn", cfg.NumAttentionHeads);
        _norm2 = new NormLayer(w, prefix + ".layer_norm2", cfg.LayerNormEps);
        _fc1 = new LinearLayer(w, prefix + ".mlp.fc1", requireBias: true);
        _fc2 = new LinearLayer(w, prefix + ".mlp.fc2", requireBias: true);
    }

    /// <summary>h: [1, L, hidden], not disposed.</summary>
    public DeviceTensor Forward(DeviceTensor h)
    {
        var n1 = _norm1.LayerNorm(_ops, h);
        var h1 = _attn.Forward(n1, residual: h);
        n1.Dispose();

        var n2 = _norm2.LayerNorm(_ops, h1);
        var f = _fc1.Apply(_ops, n2);
        n2.Dispose();
        var a = Activation(f);
        f.Dispose();
        var h2 = _fc2.Apply(_ops, a, residual: h1);
        a.Dispose();
        h1.Dispose();
        return h2;
    }

    private DeviceTensor Activation(DeviceTensor x)
    {
        if (!_quickGelu) return _ops.Gelu(x);
        // x * sigmoid(1.702 x) = silu(1.702 x) / 1.702: two cheap elementwise ops, no extra backend op needed.
        const float k = 1.702f;
        var scaled = _ops.ScaleShift(x, k, 0f);
        var s = _ops.Silu(scaled);
        scaled.Dispose();
        var y = _ops.ScaleShift(s, 1f / k, 0f);
        s.Dispose();
        return y;
    }
}
