namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// erf and erfc in float64, accurate to ~1e-14 (far below float32 rounding), for the exact GELU.
/// |z| &lt; 2.5: the Maclaurin series (terms peak near 83, so cancellation costs at most 2 digits);
/// beyond: the Laplace continued fraction for erfc, evaluated backwards, which converges fast there.
/// </summary>
public static class ErfMath
{
    private const double TwoOverSqrtPi = 1.1283791670955126;
    private const double InvSqrtPi = 0.5641895835477563;

    public static double Erf(double z)
    {
        if (double.IsNaN(z)) return z;
        double a = Math.Abs(z);
        double r = a < 2.5 ? Series(a) : 1.0 - ContinuedFraction(a);
        return z < 0 ? -r : r;
    }

    public static double Erfc(double z)
    {
        if (double.IsNaN(z)) return z;
        if (z < 0) return 2.0 - Erfc(-z);
        return z < 2.5 ? 1.0 - Series(z) : ContinuedFraction(z);
    }

    /// <summary>erf(a) = 2/sqrt(pi) * sum_n (-1)^n a^(2n+1) / (n! (2n+1)).</summary>
    private static double Series(double a)
    {
        double a2 = a * a, term = a, sum = a;
        for (int n = 1; n < 80; n++)
        {
            term *= -a2 / n;              // (-1)^n a^(2n+1) / n!
            double t = term / (2 * n + 1);
            sum += t;
            if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break;
        }
        return TwoOverSqrtPi * sum;
    }

    /// <summary>erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), a >= 2.5.</summary>
    private static double ContinuedFraction(double a)
    {
        if (a > 27) return 0; // exp(-a^2) underflows
        double t = a;
        for (int n = 120; n >= 1; n--) t = a + n * 0.5 / t;
        return Math.Exp(-a * a) * InvSqrtPi / t;
    }
}
