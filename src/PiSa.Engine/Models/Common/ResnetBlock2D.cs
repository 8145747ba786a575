using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Common;

/// <summary>
/// diffusers ResnetBlock2D ("default" time-embedding norm, SiLU, pre-norm):
/// h = conv1(silu(norm1(x))) [+ time_emb_proj(silu(temb)) per channel]; h = conv2(silu(norm2(h)));
/// out = (shortcut(x) + h) / outputScaleFactor, shortcut = 1x1 conv_shortcut when in != out channels.
/// Used by the UNet (with a time embedding) and usable by the VAE (without one).
/// </summary>
public sealed class ResnetBlock2D
{
    private readonly IOps _ops;
    private readonly NormLayer _norm1, _norm2;
    private readonly ConvLayer _conv1, _conv2;
    private readonly ConvLayer? _shortcut;
    private readonly LinearLayer? _timeProj;
    private readonly int _groups, _groupsOut;
    private readonly float _outputScaleFactor;
    private HostTensor? _conv1BiasWithTime;

    public string Prefix { get; }
    public int InChannels => _conv1.In;
    public int OutChannels => _conv1.Out;

    /// <param name="prefix">module name, e.g. "down_blocks.0.resnets.1" (no trailing dot).</param>
    /// <param name="groups">GroupNorm groups of norm1; <paramref name="groupsOut"/> of norm2 (defaults to the same).</param>
    /// <param name="hasTimeEmbedding">whether the block carries time_emb_proj (UNet: yes, VAE: no).</param>
    public ResnetBlock2D(IOps ops, IWeightSource w, string prefix, int groups, float eps, bool hasTimeEmbedding,
        float outputScaleFactor = 1f, int? groupsOut = null)
    {
        _ops = ops;
        Prefix = prefix;
        _groups = groups;
        _groupsOut = groupsOut ?? groups;
        _outputScaleFactor = outputScaleFactor;
        _norm1 = new NormLayer(w, prefix + ".norm1", eps);
        _conv1 = new ConvLayer(w, prefix + ".conv1");
        _norm2 = new NormLayer(w, prefix + ".norm2", eps);
        _conv2 = new ConvLayer(w, prefix + ".conv2");
        if (hasTimeEmbedding) _timeProj = new LinearLayer(w, prefix + ".time_emb_proj", requireBias: true);
        // diffusers creates conv_shortcut exactly when in_channels != out_channels (use_in_shortcut default).
        if (_conv1.In != _conv1.Out) _shortcut = new ConvLayer(w, prefix + ".conv_shortcut", pad: new Pad2d(0, 0, 0, 0));
        if (_norm1.Channels != _conv1.In || _norm2.Channels != _conv1.Out || _conv2.In != _conv1.Out || _conv2.Out != _conv1.Out)
            throw new PisaException($"{prefix}: inconsistent channel counts between norm1/conv1/norm2/conv2 weights");
    }

    /// <summary>
    /// Folds a constant time embedding into conv1's bias: conv1(h) + time_emb_proj(tembAct) per channel equals conv1
    /// with bias b1 + time_emb_proj(tembAct) (computed on the host in float64). After this, <see cref="Forward"/>
    /// needs no time input. tembAct: the time embedding after SiLU, one vector (the same timestep for the whole batch).
    /// Each call creates a new bias tensor (backends upload it once, by identity): fold once per timestep value.
    /// </summary>
    public void FoldTimeEmbedding(ReadOnlySpan<float> tembAct)
    {
        if (_timeProj == null) throw new PisaException($"{Prefix}: has no time_emb_proj to fold");
        var t = _timeProj.ApplyHost(tembAct);
        // Folded once per timestep value: the projection's float copy is not needed until another value comes.
        _timeProj.Weight.ReleaseData();
        var b = new float[t.Length];
        for (int i = 0; i < b.Length; i++) b[i] = _conv1.Bias!.Data[i] + t[i];
        _conv1BiasWithTime = new HostTensor([b.Length], b);
    }

    /// <summary>
    /// x: NHWC [N, H, W, in], not disposed. tembAct: the time embedding AFTER SiLU, [N or 1, temb] (every block
    /// applies SiLU to the same embedding, so the caller does it once); when null, a block with a time projection
    /// uses the embedding folded by <see cref="FoldTimeEmbedding"/>. Blocks without time_emb_proj take null.
    /// </summary>
    public DeviceTensor Forward(DeviceTensor x, DeviceTensor? tembAct = null)
    {
        if (_timeProj == null && tembAct != null) throw new PisaException($"{Prefix}: has no time_emb_proj but got a time embedding");
        if (_timeProj != null && tembAct == null && _conv1BiasWithTime == null)
            throw new PisaException($"{Prefix}: needs a time embedding (pass it, or fold it with FoldTimeEmbedding)");
        return ForwardCore(x, null, tembAct, tembAct == null ? _conv1BiasWithTime : null);
    }

    /// <summary>
    /// <see cref="Forward"/> on the channel concat of a and b (the UNet's up blocks: h and the skip), neither disposed.
    /// The concat's two readers, norm1 and conv_shortcut, read a and b in place (IOps.GroupNormConcat, Conv2dConcat),
    /// so a fusing backend never writes the concatenated tensor. Otherwise (a backend that does not fold it, or no
    /// conv_shortcut: the concat itself is then the residual) the concat is made once, as before.
    /// </summary>
    public DeviceTensor ForwardConcat(DeviceTensor a, DeviceTensor b, DeviceTensor? tembAct = null)
    {
        if (_shortcut == null || !_ops.FoldsConcat)
        {
            using var cat = _ops.ConcatChannels(a, b);
            return Forward(cat, tembAct);
        }
        if (_timeProj == null && tembAct != null) throw new PisaException($"{Prefix}: has no time_emb_proj but got a time embedding");
        if (_timeProj != null && tembAct == null && _conv1BiasWithTime == null)
            throw new PisaException($"{Prefix}: needs a time embedding (pass it, or fold it with FoldTimeEmbedding)");
        return ForwardCore(a, b, tembAct, tembAct == null ? _conv1BiasWithTime : null);
    }

    /// <param name="b">null: the input is x; else the input is the channel concat of x and b (there is a conv_shortcut).</param>
    private DeviceTensor ForwardCore(DeviceTensor x, DeviceTensor? b, DeviceTensor? tembAct, HostTensor? conv1Bias)
    {
        var h = b is null ? _norm1.GroupNorm(_ops, x, _groups, silu: true) : _norm1.GroupNormConcat(_ops, x, b, _groups, silu: true);
        var c1 = _conv1.Apply(_ops, h, bias: conv1Bias);
        h.Dispose();
        if (tembAct != null)
        {
            var t = _timeProj!.Apply(_ops, tembAct);
            var withT = _ops.AddChannelVector(c1, t);
            t.Dispose();
            c1.Dispose();
            c1 = withT;
        }
        var h2 = _norm2.GroupNorm(_ops, c1, _groupsOut, silu: true);
        c1.Dispose();
        var shortcut = b is null ? _shortcut?.Apply(_ops, x) : _shortcut!.ApplyConcat(_ops, x, b);
        var y = _conv2.Apply(_ops, h2, residual: shortcut ?? x);
        h2.Dispose();
        shortcut?.Dispose();
        if (_outputScaleFactor != 1f)
        {
            var scaled = _ops.ScaleShift(y, 1f / _outputScaleFactor, 0f);
            y.Dispose();
            y = scaled;
        }
        return y;
    }
}
