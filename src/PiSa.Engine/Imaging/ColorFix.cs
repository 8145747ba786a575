namespace PiSa.Engine.Imaging;

/// <summary>The colour-fix choices of test_pisasr.py (<c>--align_method</c>).</summary>
public enum ColorFixMethod
{
    AdaIn,
    Wavelet,
    None,
}

/// <summary>A colour-fix result: the float image before quantisation (HWC, [0, 1]) and the 8-bit image.</summary>
public sealed class ColorFixResult
{
    public required float[] FinalHwc { get; init; }
    public required RgbImage Image { get; init; }
}

/// <summary>
/// SPEC step 12, after src/my_utils/wavelet_color_fix.py: both images enter as torchvision to_tensor
/// of the 8-bit PIL images (byte / 255 in float32), the result is clamped to [0, 1] and quantised by
/// ToPILImage (mul(255) then truncation). Element-wise arithmetic is float32 in torch's order;
/// reductions are done in double and rounded to float.
/// </summary>
public static class ColorFix
{
    private const float Eps = 1e-5f;

    public static ColorFixResult Apply(ColorFixMethod method, RgbImage target, RgbImage source) => method switch
    {
        ColorFixMethod.AdaIn => AdaIn(target, source),
        ColorFixMethod.Wavelet => Wavelet(target, source),
        ColorFixMethod.None => Finish(ToUnit(target), target),
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, null),
    };

    /// <summary>
    /// Adaptive instance normalisation: per channel, <c>(t - mean_t) / std_t * std_s + mean_s</c> with
    /// <c>std = sqrt(unbiased var + 1e-5)</c>. The images may differ in size (only statistics are shared).
    /// </summary>
    public static ColorFixResult AdaIn(RgbImage target, RgbImage source) => Finish(AdaIn(ToUnit(target), ToUnit(source)), target);

    /// <summary>The colour fix on unit floats (HWC RGB, [0, 1]) of equal-sized images, unclamped: the 16-bit path.</summary>
    public static float[] ApplyUnit(ColorFixMethod method, float[] target, float[] source, int width, int height) => method switch
    {
        ColorFixMethod.AdaIn => AdaIn(target, source),
        ColorFixMethod.Wavelet => Wavelet(target, source, width, height),
        ColorFixMethod.None => (float[])target.Clone(),
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, null),
    };

    private static float[] AdaIn(float[] t, float[] s)
    {
        var (tMean, tStd) = MeanStd(t);
        var (sMean, sStd) = MeanStd(s);
        var result = new float[t.Length];
        for (int i = 0; i < t.Length; i++)
        {
            int c = i % 3;
            float v = (t[i] - tMean[c]) / tStd[c];
            result[i] = v * sStd[c] + sMean[c];
        }
        return result;
    }

    /// <summary>
    /// Wavelet colour fix: high frequencies of the target (5 levels of a-trous blur) plus the lowest band
    /// of the source. Both images must have the same size.
    /// </summary>
    public static ColorFixResult Wavelet(RgbImage target, RgbImage source)
    {
        if (target.Width != source.Width || target.Height != source.Height)
            throw new ArgumentException($"wavelet colour fix needs equal sizes: target {target.Width}x{target.Height}, source {source.Width}x{source.Height}");
        return Finish(Wavelet(ToUnit(target), ToUnit(source), target.Width, target.Height), target);
    }

    private static float[] Wavelet(float[] target, float[] source, int width, int height)
    {
        var (targetHigh, _) = WaveletDecompose(target, width, height);
        var (_, sourceLow) = WaveletDecompose(source, width, height);
        for (int i = 0; i < targetHigh.Length; i++) targetHigh[i] += sourceLow[i];
        return targetHigh;
    }

    /// <summary>to_tensor: byte / 255 in float32 (a division, as torchvision does), kept HWC.</summary>
    public static float[] ToUnit(RgbImage img)
    {
        var f = new float[img.Data.Length];
        for (int i = 0; i < f.Length; i++) f[i] = img.Data[i] / 255f;
        return f;
    }

    /// <summary>Per-channel mean and sqrt(unbiased variance + eps) of an HWC float image.</summary>
    private static (float[] Mean, float[] Std) MeanStd(float[] hwc)
    {
        long n = hwc.Length / 3;
        var mean = new float[3];
        var std = new float[3];
        for (int c = 0; c < 3; c++)
        {
            double sum = 0;
            for (long i = c; i < hwc.Length; i += 3) sum += hwc[i];
            double m = sum / n;
            double sq = 0;
            for (long i = c; i < hwc.Length; i += 3) { double d = hwc[i] - m; sq += d * d; }
            // torch.var is unbiased; a single pixel gives NaN there too (0 / 0).
            float variance = (float)(sq / (n - 1));
            mean[c] = (float)m;
            std[c] = MathF.Sqrt(variance + Eps);
        }
        return (mean, std);
    }

    /// <summary>
    /// Five a-trous levels: blur with [[1,2,1],[2,4,2],[1,2,1]]/16 at dilation 2^i with replicate padding
    /// (F.pad replicate + conv2d, i.e. clamped taps); high += image - low; image = low.
    /// </summary>
    private static (float[] High, float[] Low) WaveletDecompose(float[] image, int width, int height)
    {
        var high = new float[image.Length];
        float[] current = image;
        for (int level = 0; level < 5; level++)
        {
            float[] low = Blur(current, width, height, 1 << level);
            for (int i = 0; i < high.Length; i++) high[i] += current[i] - low[i];
            current = low;
        }
        return (high, current);
    }

    private static float[] Blur(float[] src, int width, int height, int radius)
    {
        var dst = new float[src.Length];
        void Row(int y)
        {
            int y0 = Math.Max(y - radius, 0) * width, y1 = y * width, y2 = Math.Min(y + radius, height - 1) * width;
            for (int x = 0; x < width; x++)
            {
                int x0 = Math.Max(x - radius, 0), x2 = Math.Min(x + radius, width - 1);
                for (int c = 0; c < 3; c++)
                {
                    // Taps in the kernel's row-major order, float32 accumulation.
                    float acc = 0.0625f * src[(y0 + x0) * 3 + c];
                    acc += 0.125f * src[(y0 + x) * 3 + c];
                    acc += 0.0625f * src[(y0 + x2) * 3 + c];
                    acc += 0.125f * src[(y1 + x0) * 3 + c];
                    acc += 0.25f * src[(y1 + x) * 3 + c];
                    acc += 0.125f * src[(y1 + x2) * 3 + c];
                    acc += 0.0625f * src[(y2 + x0) * 3 + c];
                    acc += 0.125f * src[(y2 + x) * 3 + c];
                    acc += 0.0625f * src[(y2 + x2) * 3 + c];
                    dst[(y1 + x) * 3 + c] = acc;
                }
            }
        }
        if ((long)width * height < 1 << 15) for (int y = 0; y < height; y++) Row(y);
        else Parallel.For(0, height, Row);
        return dst;
    }

    /// <summary>clamp_(0, 1) then ToPILImage: mul(255).byte() truncation.</summary>
    private static ColorFixResult Finish(float[] hwc, RgbImage sizeOf)
    {
        var bytes = new byte[hwc.Length];
        for (int i = 0; i < hwc.Length; i++)
        {
            float v = hwc[i];
            v = v < 0f ? 0f : v > 1f ? 1f : v;   // NaN stays NaN as in torch.clamp_
            hwc[i] = v;
            bytes[i] = Preprocess.UnitToByteTruncating(v);
        }
        return new ColorFixResult { FinalHwc = hwc, Image = new RgbImage(sizeOf.Width, sizeOf.Height, bytes) };
    }
}
