namespace PiSa.Engine.Tensors;

/// <summary>
/// Converts image tensors between PyTorch's NCHW (fixtures, file formats) and the engine's NHWC
/// activation layout. Both directions copy.
/// </summary>
public static class Layout
{
    public static HostTensor NchwToNhwc(HostTensor t)
    {
        if (t.Rank != 4) throw new PisaException($"NchwToNhwc: expected [N, C, H, W], got [{ShapeUtil.Format(t.Shape)}]");
        int n = t.Shape[0], c = t.Shape[1], h = t.Shape[2], w = t.Shape[3];
        var dst = new float[t.Count];
        var src = t.Data;
        int hw = h * w;
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
            {
                int s = (b * c + ch) * hw, d = b * hw * c + ch;
                for (int p = 0; p < hw; p++) dst[d + p * c] = src[s + p];
            }
        return new HostTensor([n, h, w, c], dst);
    }

    public static HostTensor NhwcToNchw(HostTensor t)
    {
        if (t.Rank != 4) throw new PisaException($"NhwcToNchw: expected [N, H, W, C], got [{ShapeUtil.Format(t.Shape)}]");
        int n = t.Shape[0], h = t.Shape[1], w = t.Shape[2], c = t.Shape[3];
        var dst = new float[t.Count];
        var src = t.Data;
        int hw = h * w;
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
            {
                int d = (b * c + ch) * hw, s = b * hw * c + ch;
                for (int p = 0; p < hw; p++) dst[d + p] = src[s + p * c];
            }
        return new HostTensor([n, c, h, w], dst);
    }
}
