namespace PiSa.Engine.Imaging;

/// <summary>
/// <c>PIL.Image.resize</c> for float images ("F" mode, Pillow's 32-bit path): the same filter taps as the
/// 8-bit path (<see cref="ResampleCoefficients"/>) but unrounded, sums in double, no clipping; horizontal
/// pass then vertical, a pass skipped when its axis keeps its size. Used where 8 bits would lose
/// information: 16-bit inputs and alpha planes. Values may leave [0, 1] (bicubic overshoot) and are
/// clamped only when quantised.
/// </summary>
public static class PilResizeFloat
{
    public static PlaneImage Resize(PlaneImage src, int width, int height, ResampleFilter filter)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (width < 1 || height < 1) throw new ArgumentException($"resize target {width}x{height} must be at least 1x1");
        if (filter == ResampleFilter.Nearest) throw new ArgumentException("nearest resampling has no float path here");
        if (width == src.Width && height == src.Height) return new PlaneImage(width, height, src.Channels, (float[])src.Data.Clone());
        var current = src;
        if (width != src.Width) current = Horizontal(current, ResampleCoefficients.Compute(src.Width, width, filter), width);
        if (height != src.Height) current = Vertical(current, ResampleCoefficients.Compute(src.Height, height, filter), height);
        return current;
    }

    private static PlaneImage Horizontal(PlaneImage src, ResampleCoefficients c, int outWidth)
    {
        int ch = src.Channels;
        var dst = PlaneImage.Allocate(outWidth, src.Height, ch);
        float[] s = src.Data, d = dst.Data;
        Parallel.For(0, src.Height, y =>
        {
            int srcRow = y * src.Width * ch, dstRow = y * outWidth * ch;
            for (int x = 0; x < outWidth; x++)
            {
                int kBase = x * c.KernelSize, n = c.Count[x], p0 = srcRow + c.Start[x] * ch;
                for (int k = 0; k < ch; k++)
                {
                    double acc = 0;
                    for (int t = 0; t < n; t++) acc += s[p0 + t * ch + k] * c.Normalized[kBase + t];
                    d[dstRow + x * ch + k] = (float)acc;
                }
            }
        });
        return dst;
    }

    private static PlaneImage Vertical(PlaneImage src, ResampleCoefficients c, int outHeight)
    {
        int stride = src.Width * src.Channels;
        var dst = PlaneImage.Allocate(src.Width, outHeight, src.Channels);
        float[] s = src.Data, d = dst.Data;
        Parallel.For(0, outHeight, y =>
        {
            int kBase = y * c.KernelSize, n = c.Count[y], first = c.Start[y];
            for (int i = 0; i < stride; i++)
            {
                double acc = 0;
                for (int t = 0; t < n; t++) acc += s[(first + t) * stride + i] * c.Normalized[kBase + t];
                d[y * stride + i] = (float)acc;
            }
        });
        return dst;
    }
}
