using PiSa.Engine.Backends;

namespace PiSa.Engine.Models.Common;

/// <summary>
/// diffusers Downsample2D with use_conv: 3x3 conv, stride 2. padding p > 0 pads p on every side;
/// padding 0 (the VAE encoder) pads only bottom and right by one, as diffusers' F.pad(0, 1, 0, 1).
/// </summary>
public sealed class Downsample2D
{
    private readonly IOps _ops;
    private readonly ConvLayer _conv;

    public Downsample2D(IOps ops, IWeightSource w, string prefix, int padding)
    {
        _ops = ops;
        var pad = padding == 0 ? new Pad2d(0, 1, 0, 1) : Pad2d.Same(padding);
        _conv = new ConvLayer(w, prefix + ".conv", stride: 2, pad: pad);
    }

    /// <summary>x is not disposed.</summary>
    public DeviceTensor Forward(DeviceTensor x) => _conv.Apply(_ops, x);
}
