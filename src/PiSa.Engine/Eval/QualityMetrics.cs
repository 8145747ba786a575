using PiSa.Engine.Imaging;

namespace PiSa.Engine.Eval;

/// <summary>
/// Full-reference PSNR and SSIM on the luma channel, following pyiqa's conventions (chaofengc/IQA-PyTorch: the
/// metrics `psnry` and `ssim`, i.e. PSNR and SSIM with test_y_channel=True and their default color_space 'yiq'),
/// which is what PiSA-SR and OSEDiff report:
/// <list type="bullet">
/// <item>RGB read as 8-bit and scaled to [0, 1]; Y = 0.299 R + 0.587 G + 0.114 B (the BT.601 luma weights, no
/// 16-235 offset: pyiqa's YIQ Y, not its YCbCr Y).</item>
/// <item>--crop-border N removes N pixels from every side of both images first.</item>
/// <item>PSNR: Y in [0, 1], not rounded; 10 log10(1 / (MSE + 1e-8)), MSE over all pixels of the image.</item>
/// <item>SSIM: Y scaled to [0, 255] and rounded (as the MATLAB reference's uint8), an 11x11 Gaussian window of
/// sigma 1.5 (normalised), 'valid' filtering (no padding), C1 = (0.01*255)^2, C2 = (0.03*255)^2, biased local
/// variances, the contrast-structure term clamped at 0 (pyiqa's relu), the mean of the map; no downsampling.</item>
/// </list>
/// Arithmetic is float64 throughout (pyiqa's PSNR runs in float32: differences of the order of 1e-5 dB).
/// Other published numbers differ by convention (YCbCr Y with offset, no rounding, scikit-image's defaults...):
/// compare only numbers computed the same way.
/// </summary>
public static class QualityMetrics
{
    public const int SsimWindow = 11;
    public const double SsimSigma = 1.5;

    /// <summary>The luma plane in [0, 1] (or rounded to [0, 255] for SSIM), cropped.</summary>
    public static double[] Luma(RgbImage image, int cropBorder, bool rounded255, out int width, out int height)
    {
        width = image.Width - 2 * cropBorder;
        height = image.Height - 2 * cropBorder;
        if (cropBorder < 0 || width < 1 || height < 1)
            throw new PisaException($"--crop-border {cropBorder} leaves nothing of a {image.Width}x{image.Height} image");
        var y = new double[(long)width * height];
        var d = image.Data;
        for (int r = 0; r < height; r++)
        {
            for (int c = 0; c < width; c++)
            {
                long p = ((long)(r + cropBorder) * image.Width + c + cropBorder) * 3;
                double v = 0.299 * (d[p] / 255.0) + 0.587 * (d[p + 1] / 255.0) + 0.114 * (d[p + 2] / 255.0);
                y[(long)r * width + c] = rounded255 ? Math.Round(v * 255.0, MidpointRounding.ToEven) : v;
            }
        }
        return y;
    }

    public static double PsnrY(RgbImage sr, RgbImage gt, int cropBorder = 0)
    {
        CheckSameSize(sr, gt);
        var a = Luma(sr, cropBorder, false, out _, out _);
        var b = Luma(gt, cropBorder, false, out _, out _);
        double sum = 0;
        for (long i = 0; i < a.LongLength; i++) { double e = a[i] - b[i]; sum += e * e; }
        double mse = sum / a.LongLength;
        return 10 * Math.Log10(1.0 / (mse + 1e-8));
    }

    public static double SsimY(RgbImage sr, RgbImage gt, int cropBorder = 0)
    {
        CheckSameSize(sr, gt);
        var x = Luma(sr, cropBorder, true, out int w, out int h);
        var y = Luma(gt, cropBorder, true, out _, out _);
        if (w < SsimWindow || h < SsimWindow)
            throw new PisaException($"SSIM needs at least {SsimWindow}x{SsimWindow} pixels after cropping, the images have {w}x{h}");
        var k = Gaussian1D();
        var xx = new double[x.Length]; var yy = new double[x.Length]; var xy = new double[x.Length];
        for (int i = 0; i < x.Length; i++) { xx[i] = x[i] * x[i]; yy[i] = y[i] * y[i]; xy[i] = x[i] * y[i]; }
        var mx = ValidFilter(x, w, h, k); var my = ValidFilter(y, w, h, k);
        var sxx = ValidFilter(xx, w, h, k); var syy = ValidFilter(yy, w, h, k); var sxy = ValidFilter(xy, w, h, k);
        const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
        double total = 0;
        for (int i = 0; i < mx.Length; i++)
        {
            double m1 = mx[i], m2 = my[i];
            double v1 = sxx[i] - m1 * m1, v2 = syy[i] - m2 * m2, cov = sxy[i] - m1 * m2;
            double cs = Math.Max(0, (2 * cov + c2) / (v1 + v2 + c2));
            total += (2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1) * cs;
        }
        return total / mx.Length;
    }

    /// <summary>The normalised 1-D Gaussian whose outer product is fspecial('gaussian', 11, 1.5).</summary>
    private static double[] Gaussian1D()
    {
        var g = new double[SsimWindow];
        int r = SsimWindow / 2;
        double sum = 0;
        for (int i = 0; i < SsimWindow; i++) { g[i] = Math.Exp(-(double)(i - r) * (i - r) / (2 * SsimSigma * SsimSigma)); sum += g[i]; }
        for (int i = 0; i < SsimWindow; i++) g[i] /= sum;
        return g;
    }

    /// <summary>Separable 'valid' correlation: [(h-10) x (w-10)] outputs.</summary>
    private static double[] ValidFilter(double[] src, int w, int h, double[] k)
    {
        int n = k.Length, ow = w - n + 1, oh = h - n + 1;
        var rows = new double[(long)h * ow];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < ow; c++)
            {
                double s = 0;
                for (int t = 0; t < n; t++) s += k[t] * src[(long)r * w + c + t];
                rows[(long)r * ow + c] = s;
            }
        var dst = new double[(long)oh * ow];
        for (int r = 0; r < oh; r++)
            for (int c = 0; c < ow; c++)
            {
                double s = 0;
                for (int t = 0; t < n; t++) s += k[t] * rows[(long)(r + t) * ow + c];
                dst[(long)r * ow + c] = s;
            }
        return dst;
    }

    private static void CheckSameSize(RgbImage a, RgbImage b)
    {
        if (a.Width != b.Width || a.Height != b.Height)
            throw new PisaException($"the images differ in size: {a.Width}x{a.Height} and {b.Width}x{b.Height}");
    }
}
