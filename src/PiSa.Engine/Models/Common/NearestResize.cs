using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Common;

/// <summary>
/// torch.nn.functional.interpolate(mode="nearest", size=(outH, outW)) on NHWC: source index
/// floor(dst * (in / out)) computed in float32 as PyTorch does, clamped to in - 1.
/// </summary>
public static class NearestResize
{
    public static DeviceTensor Resize(IOps ops, DeviceTensor x, int outH, int outW)
    {
        if (x.Rank != 4) throw new PisaException($"nearest resize: input [{ShapeUtil.Format(x.Shape)}] is not NHWC");
        int inH = x.Dim(1), inW = x.Dim(2);
        if (outH <= 0 || outW <= 0) throw new PisaException($"nearest resize: bad output size {outH}x{outW}");

        // The UNet only ever asks for out = 2*in (plain 2x) or out = 2*in - 1 (the skip of an odd size, since a
        // stride-2 padding-1 conv gives ceil(in/2)). For out = 2*in - 1 and every dst <= 2*in - 2,
        // dst * in / (2*in - 1) = dst/2 + dst / (2 * (2*in - 1)) whose extra term is below 1/2, so the floor equals
        // floor(dst / 2): the 2x result cropped to the first out rows/columns is exact, with backend ops only.
        if (IsCropped2x(inH, outH) && IsCropped2x(inW, outW))
        {
            var up = ops.UpsampleNearest2x(x);
            if (outH == 2 * inH && outW == 2 * inW) return up;
            var cropped = ops.CropSpatial(up, 0, outH, 0, outW);
            up.Dispose();
            return cropped;
        }
        return ops.Upload(ResizeHost(ops.Download(x), outH, outW));
    }

    /// <summary>Whether nearest resizing in -> out along one axis is the 2x upsampling cropped to out (see Resize).</summary>
    public static bool IsCropped2x(int inSize, int outSize) => outSize == 2 * inSize || outSize == 2 * inSize - 1;

    /// <summary>The general case on the host (only reached by unusual configurations, e.g. downsample padding 0).</summary>
    public static HostTensor ResizeHost(HostTensor x, int outH, int outW)
    {
        int n = x.Dim(0), inH = x.Dim(1), inW = x.Dim(2), c = x.Dim(3);
        var ys = SourceIndices(inH, outH);
        var xs = SourceIndices(inW, outW);
        var y = new HostTensor(n, outH, outW, c);
        var src = x.Data;
        var dst = y.Data;
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                    Array.Copy(src, (((long)b * inH + ys[oy]) * inW + xs[ox]) * c,
                        dst, (((long)b * outH + oy) * outW + ox) * c, c);
        return y;
    }

    /// <summary>PyTorch's nearest source index for each output position: min(floor(dst * (float)(in/out)), in-1).</summary>
    public static int[] SourceIndices(int inSize, int outSize)
    {
        float scale = (float)inSize / outSize;
        var idx = new int[outSize];
        for (int d = 0; d < outSize; d++)
            idx[d] = Math.Min((int)MathF.Floor(d * scale), inSize - 1);
        return idx;
    }
}
