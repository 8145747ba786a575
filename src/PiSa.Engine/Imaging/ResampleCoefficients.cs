namespace PiSa.Engine.Imaging;

/// <summary>
/// Per-output-pixel filter taps along one axis, as Pillow 9.4 computes them (precompute_coeffs followed
/// by normalize_coeffs_8bpc): double-precision weights normalised to sum 1, then rounded half away from
/// zero to fixed point with <see cref="PrecisionBits"/> fractional bits for the integer 8-bit path.
/// </summary>
internal sealed class ResampleCoefficients
{
    /// <summary>32 bits minus 8 for the pixel value minus 2 for the overshoot of negative lobes.</summary>
    public const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Taps stored per output pixel (a fixed stride; unused trailing taps are zero).</summary>
    public int KernelSize { get; }
    /// <summary>First input index read by output pixel i.</summary>
    public int[] Start { get; }
    /// <summary>Number of input pixels read by output pixel i.</summary>
    public int[] Count { get; }
    /// <summary>Fixed-point weights, KernelSize per output pixel (Pillow's 8-bit path).</summary>
    public int[] Weights { get; }
    /// <summary>The same weights before fixed-point rounding, normalised to sum 1 (Pillow's 32-bit path,
    /// used here for 16-bit samples and alpha planes).</summary>
    public double[] Normalized { get; }

    private ResampleCoefficients(int kernelSize, int[] start, int[] count, int[] weights, double[] normalized)
    {
        KernelSize = kernelSize;
        Start = start;
        Count = count;
        Weights = weights;
        Normalized = normalized;
    }

    /// <summary>Coefficients for resampling the whole input axis [0, inSize) onto outSize pixels.</summary>
    public static ResampleCoefficients Compute(int inSize, int outSize, ResampleFilter filter)
    {
        // Pillow passes the source box as C floats; for a whole axis that is 0 and inSize.
        float in0 = 0f, in1 = inSize;
        double scale = (double)(in1 - in0) / outSize;
        double filterScale = scale < 1.0 ? 1.0 : scale;   // widen the kernel only when shrinking
        double support = ResampleKernels.Support(filter) * filterScale;
        int kernelSize = (int)Math.Ceiling(support) * 2 + 1;
        if ((long)outSize * kernelSize > Array.MaxLength)
            throw new PisaException($"resize to {outSize} pixels with a {kernelSize}-tap kernel needs too much memory");

        var start = new int[outSize];
        var count = new int[outSize];
        var weights = new int[outSize * kernelSize];
        var normalized = new double[outSize * kernelSize];
        var k = new double[kernelSize];
        double invScale = 1.0 / filterScale;

        for (int o = 0; o < outSize; o++)
        {
            double center = in0 + (o + 0.5) * scale;
            // (int) truncates toward zero like the C cast; the clamps make the sign case irrelevant.
            int lo = (int)(center - support + 0.5);
            if (lo < 0) lo = 0;
            int hi = (int)(center + support + 0.5);
            if (hi > inSize) hi = inSize;
            int n = hi - lo;

            double sum = 0.0;
            for (int t = 0; t < n; t++)
            {
                double w = ResampleKernels.Evaluate(filter, (t + lo - center + 0.5) * invScale);
                k[t] = w;
                sum += w;
            }
            int row = o * kernelSize;
            for (int t = 0; t < n; t++)
            {
                double w = sum != 0.0 ? k[t] / sum : k[t];
                normalized[row + t] = w;
                weights[row + t] = ToFixed(w);
            }
            start[o] = lo;
            count[o] = n;
        }
        return new ResampleCoefficients(kernelSize, start, count, weights, normalized);
    }

    /// <summary>Round half away from zero to fixed point (the C cast truncates toward zero).</summary>
    private static int ToFixed(double w) =>
        w < 0 ? (int)(-0.5 + w * (1 << PrecisionBits)) : (int)(0.5 + w * (1 << PrecisionBits));

    /// <summary>Fixed-point accumulator (which starts at one half) back to a byte, clipped to [0, 255].</summary>
    public static byte Clip8(int acc)
    {
        int v = acc >> PrecisionBits;   // arithmetic shift: floor, as in Pillow
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    public const int Half = 1 << (PrecisionBits - 1);
}
