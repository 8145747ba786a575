using PiSa.Engine.Backends;

namespace PiSa.Engine.Models.Common;

/// <summary>
/// Multi-head attention with separate q/k/v/out projections: out = W_o · softmax(q kᵀ / sqrt(d)) v + b_o
/// (+ residual). Covers diffusers' Attention (to_q, to_k, to_v without bias, to_out.0 with bias) and
/// CLIP's self-attention (q_proj, k_proj, v_proj, out_proj, all with bias, causal). Inputs may be
/// sequences [B, L, C] or NHWC images [N, H, W, C] (treated as sequences of H*W tokens); the output has the
/// shape of the query input with the output projection's width.
/// </summary>
public sealed class MultiHeadAttention
{
    private readonly IOps _ops;
    private readonly LinearLayer _q, _k, _v, _out;
    public int Heads { get; }
    public bool Causal { get; }
    public string Prefix { get; }

    public MultiHeadAttention(IOps ops, IWeightSource w, string prefix, string qName, string kName, string vName,
        string outName, int heads, bool causal)
    {
        _ops = ops;
        Prefix = prefix;
        Heads = heads;
        Causal = causal;
        _q = new LinearLayer(w, prefix + qName);
        _k = new LinearLayer(w, prefix + kName);
        _v = new LinearLayer(w, prefix + vName);
        _out = new LinearLayer(w, prefix + outName);
        int inner = _q.Out;
        if (heads <= 0 || inner % heads != 0)
            throw new PisaException($"{prefix}: inner width {inner} is not divisible by {heads} heads");
        if (_k.Out != inner || _v.Out != inner || _out.In != inner || _k.In != _v.In)
            throw new PisaException($"{prefix}: q/k/v/out projection shapes do not agree");
    }

    /// <summary>diffusers Attention module at <paramref name="prefix"/> (e.g. "...transformer_blocks.0.attn1").</summary>
    public static MultiHeadAttention Diffusers(IOps ops, IWeightSource w, string prefix, int heads) =>
        new(ops, w, prefix, ".to_q", ".to_k", ".to_v", ".to_out.0", heads, causal: false);

    /// <summary>transformers CLIPAttention at <paramref name="prefix"/> (e.g. "text_model.encoder.layers.0.self_attn").</summary>
    public static MultiHeadAttention Clip(IOps ops, IWeightSource w, string prefix, int heads) =>
        new(ops, w, prefix, ".q_proj", ".k_proj", ".v_proj", ".out_proj", heads, causal: true);

    public int QueryDim => _q.In;
    public int ContextDim => _k.In;

    /// <summary>
    /// Attention of x over context (self-attention when context is null); residual (same shape as the output)
    /// is added in the output projection. No input is disposed.
    /// </summary>
    public DeviceTensor Forward(DeviceTensor x, DeviceTensor? context = null, DeviceTensor? residual = null)
    {
        var ctx = context ?? x;
        if (ctx.Dim(0) != x.Dim(0))
            throw new PisaException($"{Prefix}: query batch {x.Dim(0)} and context batch {ctx.Dim(0)} differ");
        var q = _q.Apply(_ops, x);
        var k = _k.Apply(_ops, ctx);
        var v = _v.Apply(_ops, ctx);
        // ops.Attention wants [B, L, C] sequences; Reshape views are only read here, the owners are disposed.
        var a = _ops.Attention(AsSequence(q), AsSequence(k), AsSequence(v), Heads, Causal);
        q.Dispose();
        k.Dispose();
        v.Dispose();
        var aShaped = x.Rank == 3 ? a : _ops.Reshape(a, OutShape(x));
        var y = _out.Apply(_ops, aShaped, residual);
        a.Dispose();
        return y;
    }

    private DeviceTensor AsSequence(DeviceTensor t)
    {
        if (t.Rank == 3) return t;
        if (t.Rank != 4) throw new PisaException($"{Prefix}: attention input must be [B, L, C] or NHWC, got rank {t.Rank}");
        return _ops.Reshape(t, t.Dim(0), t.Dim(1) * t.Dim(2), t.Dim(3));
    }

    private int[] OutShape(DeviceTensor x)
    {
        var s = (int[])x.Shape.Clone();
        s[^1] = _q.Out;
        return s;
    }
}
