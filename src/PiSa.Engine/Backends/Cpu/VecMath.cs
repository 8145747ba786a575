using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// Vectorised SiLU and exact-GELU over float spans, computed in float64 lanes and rounded once to float32, so
/// results agree with the scalar float64 definitions (<see cref="CpuElementwise.Silu(float)"/>,
/// <see cref="CpuElementwise.Gelu(float)"/>) to within one float32 rounding (tests check 1e-7 relative).
///
/// exp: x = n ln2 + r with n = round(x / ln2) (the 1.5*2^52 shifter trick, which also leaves n in the low
/// mantissa bits for building 2^n), ln2 split in two so n*ln2_hi is exact, exp(r) by its Taylor series to
/// r^12 (|r| &lt;= ln2/2: truncation below 2e-16).
/// erfc (GELU): erfc(z) = t exp(-z^2 + P(t)) with t = 2/(2+z), P a degree-12 polynomial least-squares fitted
/// here (numpy, against Python's math.erfc on 4000 Chebyshev points of z in [0, 11]): relative error below
/// 2e-10 there; past z = 11 (|x| &gt; 15.5) GELU is 0 or x in float32 anyway.
/// Lanes holding NaN go through the scalar definitions.
/// </summary>
public static class VecMath
{
    private const double Log2E = 1.4426950408889634;
    private const double Ln2Hi = 0.693147180559890330187045037746429443359375; // ln 2 with 11 trailing zero bits: n * Ln2Hi is exact
    private const double Ln2Lo = 5.4979230187083711747124716e-14;               // ln 2 - Ln2Hi
    private const double Shifter = 6755399441055744.0;                          // 1.5 * 2^52
    private const double InvSqrt2 = 0.7071067811865476;
    private const double ErfcZMax = 11.0;

    // P(t), highest power first (Horner order).
    private static readonly double[] ErfcP =
    [
        0.18481071795607681, -1.3651916754548827, 4.36822547382174, -7.822787850621352, 8.462826404453681,
        -5.685631464795821, 2.6204675631259304, -1.0531322784569745, 0.12916307678845562, 0.04823972956678022,
        0.3787518535280605, 0.9997639657843399, -1.2655055155313846,
    ];

    /// <summary>exp of each lane, inputs clamped to [-708, 708] (the caller's values stay far inside or saturate harmlessly).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Exp(Vector256<double> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-708.0)), Vector256.Create(708.0));
        var shifted = x * Vector256.Create(Log2E) + Vector256.Create(Shifter);
        var n = shifted - Vector256.Create(Shifter);
        var r = x - n * Vector256.Create(Ln2Hi) - n * Vector256.Create(Ln2Lo);
        // Taylor series of exp(r), Horner from the r^12 term.
        var p = Vector256.Create(1.0 / 479001600);
        p = p * r + Vector256.Create(1.0 / 39916800);
        p = p * r + Vector256.Create(1.0 / 3628800);
        p = p * r + Vector256.Create(1.0 / 362880);
        p = p * r + Vector256.Create(1.0 / 40320);
        p = p * r + Vector256.Create(1.0 / 5040);
        p = p * r + Vector256.Create(1.0 / 720);
        p = p * r + Vector256.Create(1.0 / 120);
        p = p * r + Vector256.Create(1.0 / 24);
        p = p * r + Vector256.Create(1.0 / 6);
        p = p * r + Vector256.Create(0.5);
        p = p * r + Vector256<double>.One;
        p = p * r + Vector256<double>.One;
        // The low mantissa bits of `shifted` hold n (two's complement); shifting them into the exponent field
        // and adding the bias gives the bits of 2^n for n in [-1022, 1023].
        var pow2 = (Vector256.ShiftLeft(shifted.AsInt64(), 52) + Vector256.Create(1023L << 52)).AsDouble();
        return p * pow2;
    }

    /// <summary>x * sigmoid(x) = x / (1 + exp(-x)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Silu(Vector256<double> x) => x / (Vector256<double>.One + Exp(-x));

    /// <summary>x * Phi(x), Phi through erfc of |x|/sqrt(2) on the side where it is small (no cancellation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Gelu(Vector256<double> x)
    {
        var zFull = Vector256.Abs(x) * Vector256.Create(InvSqrt2);
        var z = Vector256.Min(zFull, Vector256.Create(ErfcZMax));
        var t = Vector256.Create(2.0) / (Vector256.Create(2.0) + z);
        var p = Vector256.Create(ErfcP[0]);
        for (int i = 1; i < ErfcP.Length; i++) p = p * t + Vector256.Create(ErfcP[i]);
        // Past the fitted range erfc is below 1e-54: x * erfc / 2 is 0 in float32 for every such x.
        var halfErfc = Vector256.AndNot(Vector256.Create(0.5) * t * Exp(p - z * z), Vector256.GreaterThan(zFull, Vector256.Create(ErfcZMax)));
        var phi = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<double>.Zero), halfErfc, Vector256<double>.One - halfErfc);
        return x * phi;
    }

    /// <summary>dst[i] = silu(src[i]); dst may be src.</summary>
    public static void Silu(ReadOnlySpan<float> src, Span<float> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= src.Length; i += 8)
            {
                var v = Vector256.Create(src.Slice(i, 8));
                if (!Vector256.EqualsAll(v, v)) { Scalar(src, dst, i, i + 8, CpuElementwise.Silu); continue; }
                var (lo, hi) = Vector256.Widen(v);
                Vector256.Narrow(Silu(lo), Silu(hi)).CopyTo(dst.Slice(i, 8));
            }
        Scalar(src, dst, i, src.Length, CpuElementwise.Silu);
    }

    /// <summary>dst[i] = gelu(src[i]) (exact, erf-based); dst may be src.</summary>
    public static void Gelu(ReadOnlySpan<float> src, Span<float> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= src.Length; i += 8)
            {
                var v = Vector256.Create(src.Slice(i, 8));
                if (!Vector256.EqualsAll(v, v)) { Scalar(src, dst, i, i + 8, CpuElementwise.Gelu); continue; }
                var (lo, hi) = Vector256.Widen(v);
                Vector256.Narrow(Gelu(lo), Gelu(hi)).CopyTo(dst.Slice(i, 8));
            }
        Scalar(src, dst, i, src.Length, CpuElementwise.Gelu);
    }

    /// <summary>dst[i] = a[i] * gelu(g[i]) (GEGLU), the product rounded to float32 once as torch's a * gelu(g) does per op:
    /// gelu(g) is rounded to float32 first, then multiplied in float32.</summary>
    public static void Geglu(ReadOnlySpan<float> a, ReadOnlySpan<float> g, Span<float> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= g.Length; i += 8)
            {
                var v = Vector256.Create(g.Slice(i, 8));
                if (!Vector256.EqualsAll(v, v)) { for (int j = i; j < i + 8; j++) dst[j] = a[j] * CpuElementwise.Gelu(g[j]); continue; }
                var (lo, hi) = Vector256.Widen(v);
                var gelu = Vector256.Narrow(Gelu(lo), Gelu(hi));
                (Vector256.Create(a.Slice(i, 8)) * gelu).CopyTo(dst.Slice(i, 8));
            }
        for (; i < g.Length; i++) dst[i] = a[i] * CpuElementwise.Gelu(g[i]);
    }

    private static void Scalar(ReadOnlySpan<float> src, Span<float> dst, int from, int to, Func<float, float> f)
    {
        for (int j = from; j < to; j++) dst[j] = f(src[j]);
    }
}
