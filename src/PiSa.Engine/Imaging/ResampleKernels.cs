namespace PiSa.Engine.Imaging;

/// <summary>
/// The 1-D filter functions and support radii of Pillow 9.4 (libImaging/Resample.c), evaluated in
/// double precision with the same operation order, because the fixed-point coefficients derived from
/// them must come out bit-identical for the resize to match Pillow pixel for pixel.
/// </summary>
internal static class ResampleKernels
{
    public static double Support(ResampleFilter filter) => filter switch
    {
        ResampleFilter.Box => 0.5,
        ResampleFilter.Bilinear => 1.0,
        ResampleFilter.Hamming => 1.0,
        ResampleFilter.Bicubic => 2.0,
        ResampleFilter.Lanczos => 3.0,
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "no convolution kernel for this filter"),
    };

    public static double Evaluate(ResampleFilter filter, double x) => filter switch
    {
        ResampleFilter.Box => Box(x),
        ResampleFilter.Bilinear => Bilinear(x),
        ResampleFilter.Hamming => Hamming(x),
        ResampleFilter.Bicubic => Bicubic(x),
        ResampleFilter.Lanczos => Lanczos(x),
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "no convolution kernel for this filter"),
    };

    private static double Box(double x) => x > -0.5 && x <= 0.5 ? 1.0 : 0.0;

    private static double Bilinear(double x)
    {
        x = Math.Abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    // Pillow writes the Hamming window constants as C float literals (0.54f, 0.46f) promoted to double.
    private static readonly double HammingA = (double)0.54f;
    private static readonly double HammingB = (double)0.46f;

    private static double Hamming(double x)
    {
        x = Math.Abs(x);
        if (x == 0.0) return 1.0;
        if (x >= 1.0) return 0.0;
        x *= Math.PI;
        return Math.Sin(x) / x * (HammingA + HammingB * Math.Cos(x));
    }

    /// <summary>Keys cubic convolution with a = -0.5, grouped as Pillow groups it.</summary>
    private static double Bicubic(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    /// <summary>Truncated sinc with a = 3; note the half-open interval [-3, 3).</summary>
    private static double Lanczos(double x) => -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;
}
