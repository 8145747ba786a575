using PiSa.Engine.Backends;

namespace PiSa.Engine.Models.Common;

/// <summary>
/// Multi-head attention with q/k/v/out projections: out = W_o · softmax(q kᵀ / sqrt(d)) v + b_o (+ residual).
/// Covers diffusers' Attention (to_q, to_k, to_v without bias, to_out.0 with bias) and CLIP's self-attention
/// (q_proj, k_proj, v_proj, out_proj, all with bias, causal). Inputs may be sequences [B, L, C] or NHWC images
/// [N, H, W, C] (treated as sequences of H*W tokens); the output has the shape of the query input with the output
/// projection's width.
///
/// Speed by construction: self-attention runs ONE fused QKV projection (weights concatenated once at load) and
/// attention reads q, k and v in place as channel windows of its output; cross-attention runs one fused KV
/// projection of the context and keeps it: the context is the cached prompt embedding, the same tensor on every
/// pass (adjustable mode and latent tiles run the UNet many times), and tensors are immutable under IOps, so
/// K and V are computed once per prompt and this layer's weights.
/// </summary>
public sealed class MultiHeadAttention : IDisposable
{
    private readonly IOps _ops;
    private readonly LinearLayer? _qkv;          // self-attention: [3*inner, in]
    private readonly LinearLayer? _q, _kv;       // cross-attention: [inner, in] and [2*inner, contextDim]
    private readonly LinearLayer _out;
    private readonly int _inner;
    private DeviceTensor? _kvContext;            // the context _kvCached was computed from (held by reference)
    private DeviceTensor? _kvCached;

    public int Heads { get; }
    public bool Causal { get; }
    public bool SelfAttention { get; }
    public string Prefix { get; }
    public int QueryDim { get; }
    public int ContextDim { get; }

    /// <summary>Times the K/V projection of a context actually ran (for tests: a cached context does not add to it).</summary>
    public int ContextProjections { get; private set; }

    public MultiHeadAttention(IOps ops, IWeightSource w, string prefix, string qName, string kName, string vName,
        string outName, int heads, bool causal, bool selfAttention)
    {
        _ops = ops;
        Prefix = prefix;
        Heads = heads;
        Causal = causal;
        SelfAttention = selfAttention;
        var q = new LinearLayer(w, prefix + qName);
        var k = new LinearLayer(w, prefix + kName);
        var v = new LinearLayer(w, prefix + vName);
        _out = new LinearLayer(w, prefix + outName);
        _inner = q.Out;
        QueryDim = q.In;
        ContextDim = k.In;
        if (heads <= 0 || _inner % heads != 0)
            throw new PisaException($"{prefix}: inner width {_inner} is not divisible by {heads} heads");
        if (k.Out != _inner || v.Out != _inner || _out.In != _inner || k.In != v.In)
            throw new PisaException($"{prefix}: q/k/v/out projection shapes do not agree");
        if (selfAttention && k.In != q.In)
            throw new PisaException($"{prefix}: self-attention with q taking {q.In} features and k/v {k.In}");
        if (selfAttention) _qkv = LinearLayer.Concat(prefix + ".qkv", q, k, v);
        else
        {
            _q = q;
            _kv = LinearLayer.Concat(prefix + ".kv", k, v);
        }
    }

    /// <summary>diffusers Attention module at <paramref name="prefix"/> (e.g. "...transformer_blocks.0.attn1"):
    /// self-attention (attn1) or attention over an encoder context (attn2, or attn1 with only_cross_attention).</summary>
    public static MultiHeadAttention Diffusers(IOps ops, IWeightSource w, string prefix, int heads, bool selfAttention) =>
        new(ops, w, prefix, ".to_q", ".to_k", ".to_v", ".to_out.0", heads, causal: false, selfAttention);

    /// <summary>transformers CLIPAttention at <paramref name="prefix"/> (e.g. "text_model.encoder.layers.0.self_attn").</summary>
    public static MultiHeadAttention Clip(IOps ops, IWeightSource w, string prefix, int heads) =>
        new(ops, w, prefix, ".q_proj", ".k_proj", ".v_proj", ".out_proj", heads, causal: true, selfAttention: true);

    /// <summary>
    /// Attention of x over itself (self-attention: <paramref name="context"/> must be null) or over context;
    /// residual (same shape as the output) is added in the output projection. No input is disposed.
    /// </summary>
    public DeviceTensor Forward(DeviceTensor x, DeviceTensor? context = null, DeviceTensor? residual = null)
    {
        if (SelfAttention != (context is null))
            throw new PisaException(SelfAttention ? $"{Prefix}: self-attention given a context" : $"{Prefix}: cross-attention without a context");
        DeviceTensor a;
        if (_qkv is not null)
        {
            // [.., 3*inner] = q | k | v: attention reads the three windows in place.
            using var qkv = _qkv.Apply(_ops, x);
            var s = AsSequence(qkv);
            a = _ops.AttentionWindows(s, 0, s, _inner, 2 * _inner, _inner, Heads, Causal);
        }
        else
        {
            if (context!.Dim(0) != x.Dim(0))
                throw new PisaException($"{Prefix}: query batch {x.Dim(0)} and context batch {context.Dim(0)} differ");
            var kv = ContextKv(context);
            using var q = _q!.Apply(_ops, x);
            a = _ops.AttentionWindows(AsSequence(q), 0, kv, 0, _inner, _inner, Heads, Causal);
        }
        // Reshape views are only read here; their owners are disposed above or below.
        var aShaped = x.Rank == 3 ? a : _ops.Reshape(a, OutShape(x));
        var y = _out.Apply(_ops, aShaped, residual);
        a.Dispose();
        return y;
    }

    /// <summary>[B, Lc, 2*inner] = k | v of the context, projected once per context tensor.</summary>
    private DeviceTensor ContextKv(DeviceTensor context)
    {
        if (ReferenceEquals(context, _kvContext) && _kvCached is not null) return _kvCached;
        var kv = _kv!.Apply(_ops, AsSequence(context));
        ReleaseCachedContext();
        _kvContext = context;
        _kvCached = kv;
        ContextProjections++;
        return kv;
    }

    /// <summary>Frees the cached K/V (the next pass projects its context again).</summary>
    public void ReleaseCachedContext()
    {
        _kvCached?.Dispose();
        _kvCached = null;
        _kvContext = null;
    }

    public void Dispose() => ReleaseCachedContext();

    private DeviceTensor AsSequence(DeviceTensor t)
    {
        if (t.Rank == 3) return t;
        if (t.Rank != 4) throw new PisaException($"{Prefix}: attention input must be [B, L, C] or NHWC, got rank {t.Rank}");
        return _ops.Reshape(t, t.Dim(0), t.Dim(1) * t.Dim(2), t.Dim(3));
    }

    private int[] OutShape(DeviceTensor x)
    {
        var s = (int[])x.Shape.Clone();
        s[^1] = _inner;
        return s;
    }
}
