using PiSa.Engine.Backends;

namespace PiSa.Engine.Models.Common;

/// <summary>
/// diffusers Upsample2D with use_conv (no transpose conv, no norm): nearest-neighbour upsampling, 2x or to an
/// explicit output size (the UNet passes the skip connection's size when the latent is not a multiple of the
/// total down factor), then a 3x3 conv with padding 1.
/// </summary>
public sealed class Upsample2D
{
    private readonly IOps _ops;
    private readonly ConvLayer _conv;

    public Upsample2D(IOps ops, IWeightSource w, string prefix)
    {
        _ops = ops;
        _conv = new ConvLayer(w, prefix + ".conv");
    }

    /// <summary>x: NHWC, not disposed. outH/outW: target size, or null for exactly 2x.</summary>
    public DeviceTensor Forward(DeviceTensor x, int? outH = null, int? outW = null)
    {
        int h = outH ?? 2 * x.Dim(1), w = outW ?? 2 * x.Dim(2);
        // The sizes the conv can read from x itself (the upsampled tensor never exists on a fusing backend).
        if (NearestResize.IsCropped2x(x.Dim(1), h) && NearestResize.IsCropped2x(x.Dim(2), w)) return _conv.ApplyUpsampled(_ops, x, h, w);
        var up = NearestResize.Resize(_ops, x, h, w);
        var y = _conv.Apply(_ops, up);
        up.Dispose();
        return y;
    }
}
