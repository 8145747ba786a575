using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Vae;

// The VAE encoder and decoder are flattened into a straight line of steps. The plain forward runs the
// line on the whole image; the tiled forward (Pipeline/VaeTiling, after PiSA-SR's VAEHook) runs the same
// line tile by tile and stops at every GroupNorm to pool statistics across tiles. Both share this one
// description, so the tiled path cannot drift from the plain one.
//
// A ResnetBlock2D (temb None, output_scale_factor 1) becomes
//   SaveResidual(conv_shortcut or identity), Norm(norm1, silu), Conv(conv1), Norm(norm2, silu), Conv(conv2, +residual)
// and the mid-block Attention becomes
//   SaveResidual(identity), Norm(group_norm), SelfAttention(+residual).

/// <summary>One step of a flattened VAE encoder or decoder.</summary>
public abstract class VaeStep
{
    /// <summary>The diffusers module name the step comes from (for messages and debugging).</summary>
    public string Name { get; }
    protected VaeStep(string name) => Name = name;
    public override string ToString() => $"{GetType().Name}({Name})";
}

/// <summary>2-D convolution; when <see cref="AddsResidual"/> the saved residual is added to its output.</summary>
public sealed class VaeConvStep(string name, HostTensor weight, HostTensor bias, int stride, Pad2d pad, bool addsResidual) : VaeStep(name)
{
    public HostTensor Weight { get; } = weight;
    public HostTensor Bias { get; } = bias;
    public int Stride { get; } = stride;
    public Pad2d Pad { get; } = pad;
    public bool AddsResidual { get; } = addsResidual;
}

/// <summary>Nearest-neighbour 2x upsampling (the first half of Upsample2D; its conv follows as a conv step).</summary>
public sealed class VaeUpsampleStep(string name) : VaeStep(name);

/// <summary>GroupNorm with affine parameters, optionally followed by SiLU.</summary>
public sealed class VaeNormStep(string name, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu) : VaeStep(name)
{
    public HostTensor Gamma { get; } = gamma;
    public HostTensor Beta { get; } = beta;
    public int Groups { get; } = groups;
    public float Eps { get; } = eps;
    public bool Silu { get; } = silu;
}

/// <summary>Remembers the residual branch: the current tensor itself, or a 1x1 conv_shortcut of it.</summary>
public sealed class VaeSaveResidualStep(string name, HostTensor? shortcutWeight, HostTensor? shortcutBias) : VaeStep(name)
{
    public HostTensor? ShortcutWeight { get; } = shortcutWeight;
    public HostTensor? ShortcutBias { get; } = shortcutBias;
}

/// <summary>Single-image self-attention over all spatial positions of the (normalised) current tensor,
/// to_q/to_k/to_v/to_out.0 linears, plus the saved residual (diffusers Attention, residual_connection,
/// rescale_output_factor 1).</summary>
public sealed class VaeAttentionStep(string name, int heads,
    HostTensor qW, HostTensor qB, HostTensor kW, HostTensor kB, HostTensor vW, HostTensor vB, HostTensor outW, HostTensor outB)
    : VaeStep(name)
{
    public int Heads { get; } = heads;
    public HostTensor QWeight { get; } = qW;
    public HostTensor QBias { get; } = qB;
    public HostTensor KWeight { get; } = kW;
    public HostTensor KBias { get; } = kB;
    public HostTensor VWeight { get; } = vW;
    public HostTensor VBias { get; } = vB;
    public HostTensor OutWeight { get; } = outW;
    public HostTensor OutBias { get; } = outB;

    private HostTensor? _qkvWeight, _qkvBias;

    /// <summary>to_q, to_k and to_v concatenated [3C, C] (and their biases [3C]) for one fused projection; built at
    /// first use (one object, so backends pack it once).</summary>
    public (HostTensor Weight, HostTensor Bias) Qkv
    {
        get
        {
            if (_qkvWeight is null)
            {
                _qkvWeight = Concat([QWeight, KWeight, VWeight]);
                _qkvBias = Concat([QBias, KBias, VBias]);
            }
            return (_qkvWeight, _qkvBias!);
        }
    }

    private static HostTensor Concat(HostTensor[] parts)
    {
        int rows = parts.Sum(p => p.Dim(0));
        var shape = (int[])parts[0].Shape.Clone();
        shape[0] = rows;
        var data = new float[parts.Sum(p => p.Data.LongLength)];
        long at = 0;
        foreach (var p in parts) { Array.Copy(p.Data, 0, data, at, p.Data.LongLength); at += p.Data.LongLength; }
        return new HostTensor(shape, data);
    }
}
