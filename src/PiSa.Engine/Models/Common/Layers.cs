using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Common;

// Parameter bundles of the elementary layers, fetched from a weight source ONCE at model construction:
// a missing or misshapen tensor fails at load time with its name, and the same HostTensor objects are
// passed on every call (backends cache their packed copies by identity).

/// <summary>nn.Linear: weight [out, in], bias [out] when the module has one.</summary>
public sealed class LinearLayer
{
    public HostTensor Weight { get; }
    public HostTensor? Bias { get; }
    public string Name { get; }
    public int In => Weight.Dim(1);
    public int Out => Weight.Dim(0);

    /// <param name="requireBias">true: "name.bias" must exist; false: it must not; null: optional.</param>
    public LinearLayer(IWeightSource w, string name, bool? requireBias = null)
    {
        Name = name;
        Weight = Param.Get(w, name + ".weight", rank: 2);
        Bias = Param.GetBias(w, name, Out, requireBias);
    }

    /// <summary>y = W x + b on the host for one vector (float64 accumulation): for tiny constant inputs such as
    /// the time embedding, which are folded into biases instead of being recomputed on the device.</summary>
    public float[] ApplyHost(ReadOnlySpan<float> x)
    {
        if (x.Length != In) throw new PisaException($"{Name}: input has {x.Length} features, weight expects {In}");
        var y = new float[Out];
        var w = Weight.Data;
        for (int o = 0; o < Out; o++)
        {
            double s = Bias?.Data[o] ?? 0;
            int row = o * In;
            for (int i = 0; i < In; i++) s += (double)w[row + i] * x[i];
            y[o] = (float)s;
        }
        return y;
    }

    private LinearLayer(string name, HostTensor weight, HostTensor? bias)
    {
        Name = name;
        Weight = weight;
        Bias = bias;
    }

    /// <summary>
    /// One layer computing several with the same input, their outputs side by side along the last dimension
    /// (a fused QKV or KV projection: one GEMM instead of several, the input read once). The weights are copied
    /// into one [sum of outs, in] tensor once; a layer without a bias contributes zeros when another has one.
    /// </summary>
    public static LinearLayer Concat(string name, params LinearLayer[] parts)
    {
        if (parts.Length == 0) throw new ArgumentException("no layers to concatenate", nameof(parts));
        int inF = parts[0].In, outF = 0;
        foreach (var p in parts)
        {
            if (p.In != inF) throw new PisaException($"{name}: {p.Name} takes {p.In} features, {parts[0].Name} {inF}: they cannot share one input");
            outF += p.Out;
        }
        float[]? b = parts.Any(p => p.Bias is not null) ? new float[outF] : null;
        int row = 0;
        foreach (var p in parts)
        {
            if (p.Bias is not null) Array.Copy(p.Bias.Data, 0, b!, row, p.Out);
            row += p.Out;
        }
        var weights = parts.Select(p => p.Weight).ToArray();
        var w = ConcatRows(weights, outF, inF);
        // The parts are used only through this copy: where they can be made again, so can it, and the parts'
        // float copies are dropped now (else each attention weight would be held twice before any packing).
        HostTensor weight;
        if (weights.All(t => t.CanRelease))
        {
            weight = HostTensor.Reloadable([outF, inF], w, () => ConcatRows(weights, outF, inF));
            foreach (var t in weights) t.ReleaseData();
        }
        else weight = new HostTensor([outF, inF], w);
        return new LinearLayer(name, weight, b is null ? null : new HostTensor([outF], b));
    }

    /// <summary>The parts' weights stacked row-wise ([sum of outs, in]); reloads a released part, and releases it
    /// again when it was not held before (a reload of the fused copy must not bring the parts back for good).</summary>
    private static float[] ConcatRows(HostTensor[] parts, int outF, int inF)
    {
        var w = new float[(long)outF * inF];
        long at = 0;
        foreach (var p in parts)
        {
            bool wasResident = p.IsResident;
            Array.Copy(p.Data, 0, w, at, p.Count);
            at += p.Count;
            if (!wasResident) p.ReleaseData();
        }
        return w;
    }

    public DeviceTensor Apply(IOps ops, DeviceTensor x, DeviceTensor? residual = null)
    {
        if (x.Dim(-1) != In)
            throw new PisaException($"{Name}: input has {x.Dim(-1)} features, weight expects {In} (input [{ShapeUtil.Format(x.Shape)}])");
        return ops.Linear(x, Weight, Bias, residual);
    }

    /// <summary>diffusers' GEGLU on this projection ([2F, in]): value * gelu(gate) of its two halves, one op.</summary>
    public DeviceTensor ApplyGeglu(IOps ops, DeviceTensor x)
    {
        if (x.Dim(-1) != In)
            throw new PisaException($"{Name}: input has {x.Dim(-1)} features, weight expects {In} (input [{ShapeUtil.Format(x.Shape)}])");
        return ops.LinearGeglu(x, Weight, Bias);
    }
}

/// <summary>nn.Conv2d with "same"-style symmetric padding (k-1)/2 unless given, stride 1 unless given.</summary>
public sealed class ConvLayer
{
    public HostTensor Weight { get; }
    public HostTensor? Bias { get; }
    public string Name { get; }
    public int Stride { get; }
    public Pad2d Pad { get; }
    public int In => Weight.Dim(1);
    public int Out => Weight.Dim(0);

    public ConvLayer(IWeightSource w, string name, int stride = 1, Pad2d? pad = null)
    {
        Name = name;
        Weight = Param.Get(w, name + ".weight", rank: 4);
        Bias = Param.GetBias(w, name, Out, requireBias: true);
        Stride = stride;
        int kh = Weight.Dim(2), kw = Weight.Dim(3);
        Pad = pad ?? new Pad2d((kh - 1) / 2, (kh - 1) / 2, (kw - 1) / 2, (kw - 1) / 2);
    }

    /// <param name="bias">replaces the layer's own bias (e.g. with a constant time projection folded in).</param>
    public DeviceTensor Apply(IOps ops, DeviceTensor x, DeviceTensor? residual = null, HostTensor? bias = null)
    {
        if (x.Rank != 4 || x.Dim(3) != In)
            throw new PisaException($"{Name}: input [{ShapeUtil.Format(x.Shape)}] is not NHWC with {In} channels");
        return ops.Conv2d(x, Weight, bias ?? Bias, Stride, Pad, residual);
    }

    /// <summary>This conv on the channel concat of a and b (<see cref="IOps.Conv2dConcat"/>).</summary>
    public DeviceTensor ApplyConcat(IOps ops, DeviceTensor a, DeviceTensor b, DeviceTensor? residual = null)
    {
        if (a.Rank != 4 || b.Rank != 4 || (long)a.Dim(3) + b.Dim(3) != In)
            throw new PisaException($"{Name}: inputs [{ShapeUtil.Format(a.Shape)}] and [{ShapeUtil.Format(b.Shape)}] are not NHWC with {In} channels together");
        return ops.Conv2dConcat(a, b, Weight, Bias, Stride, Pad, residual);
    }

    /// <summary>This conv on x's nearest upsampling to upH x upW (2x, or 2x - 1: <see cref="IOps.Conv2dUpsampled"/>).</summary>
    public DeviceTensor ApplyUpsampled(IOps ops, DeviceTensor x, int upH, int upW)
    {
        if (x.Rank != 4 || x.Dim(3) != In)
            throw new PisaException($"{Name}: input [{ShapeUtil.Format(x.Shape)}] is not NHWC with {In} channels");
        return ops.Conv2dUpsampled(x, upH, upW, Weight, Bias, Stride, Pad);
    }
}

/// <summary>Affine parameters of a GroupNorm or LayerNorm (weight = gamma, bias = beta).</summary>
public sealed class NormLayer
{
    public HostTensor Gamma { get; }
    public HostTensor Beta { get; }
    public string Name { get; }
    public float Eps { get; }
    public int Channels => Gamma.Dim(0);

    public NormLayer(IWeightSource w, string name, float eps)
    {
        Name = name;
        Eps = eps;
        Gamma = Param.Get(w, name + ".weight", rank: 1);
        Beta = Param.Get(w, name + ".bias", rank: 1);
        if (Beta.Dim(0) != Channels)
            throw new PisaException($"{name}: bias has {Beta.Dim(0)} elements, weight {Channels}");
    }

    /// <summary>GroupNorm over NHWC (or [B, L, C]) with <paramref name="groups"/> groups, optional fused SiLU.</summary>
    public DeviceTensor GroupNorm(IOps ops, DeviceTensor x, int groups, bool silu)
    {
        if (x.Dim(-1) != Channels)
            throw new PisaException($"{Name}: input [{ShapeUtil.Format(x.Shape)}] does not have {Channels} channels");
        if (groups <= 0 || Channels % groups != 0)
            throw new PisaException($"{Name}: {Channels} channels cannot be split into {groups} groups");
        return ops.GroupNorm(x, Gamma, Beta, groups, Eps, silu);
    }

    /// <summary>GroupNorm of the channel concat of a and b (<see cref="IOps.GroupNormConcat"/>).</summary>
    public DeviceTensor GroupNormConcat(IOps ops, DeviceTensor a, DeviceTensor b, int groups, bool silu)
    {
        if ((long)a.Dim(-1) + b.Dim(-1) != Channels)
            throw new PisaException($"{Name}: inputs [{ShapeUtil.Format(a.Shape)}] and [{ShapeUtil.Format(b.Shape)}] do not have {Channels} channels together");
        if (groups <= 0 || Channels % groups != 0)
            throw new PisaException($"{Name}: {Channels} channels cannot be split into {groups} groups");
        return ops.GroupNormConcat(a, b, Gamma, Beta, groups, Eps, silu);
    }

    /// <summary>LayerNorm over the last dimension.</summary>
    public DeviceTensor LayerNorm(IOps ops, DeviceTensor x)
    {
        if (x.Dim(-1) != Channels)
            throw new PisaException($"{Name}: input [{ShapeUtil.Format(x.Shape)}] does not have {Channels} features");
        return ops.LayerNorm(x, Gamma, Beta, Eps);
    }
}

/// <summary>Checked parameter lookups with one-line errors naming the tensor.</summary>
public static class Param
{
    public static HostTensor Get(IWeightSource w, string name, int rank)
    {
        if (!w.Contains(name)) throw new PisaException($"missing weight '{name}'");
        var t = w.Get(name);
        if (t.Rank != rank)
            throw new PisaException($"weight '{name}' has shape [{ShapeUtil.Format(t.Shape)}], expected rank {rank}");
        return t;
    }

    public static HostTensor? GetBias(IWeightSource w, string module, int outFeatures, bool? requireBias)
    {
        string name = module + ".bias";
        bool has = w.Contains(name);
        if (requireBias == true && !has) throw new PisaException($"missing weight '{name}'");
        if (requireBias == false && has) throw new PisaException($"unexpected weight '{name}' (this layer has no bias)");
        if (!has) return null;
        var b = Get(w, name, rank: 1);
        if (b.Dim(0) != outFeatures)
            throw new PisaException($"weight '{name}' has {b.Dim(0)} elements, expected {outFeatures}");
        return b;
    }
}
