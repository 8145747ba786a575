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
        var up = NearestResize.Resize(_ops, x, outH ?? 2 * x.Dim(1), outW ?? 2 * x.Dim(2));
        var y = _conv.Apply(_ops, up);
        up.Dispose();
        return y;
    }
}
