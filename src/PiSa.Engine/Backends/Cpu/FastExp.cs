using System.Runtime.Intrinsics;

namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// Vectorised float32 exp for softmax rows (the scalar MathF.Exp was half of attention's time).
/// Cephes expf: exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in two parts, exp(r) by a
/// degree-7 polynomial: about 1 ulp, the same class of accuracy as the Sleef exp PyTorch's softmax uses.
/// </summary>
public static class FastExp
{
    private const float Log2E = 1.44269504088896341f;
    private const float C1 = 0.693359375f, C2 = -2.12194440e-4f;
    private const float Lo = -87.33654f, Hi = 88f;

    /// <summary>dst[i] = exp(src[i]); src and dst may be the same span.</summary>
    public static void Exp(ReadOnlySpan<float> src, Span<float> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= src.Length; i += 8)
            {
                var x = Vector256.Create(src.Slice(i, 8));
                if (Vector256.GreaterThanAny(x, Vector256.Create(Hi)) || !Vector256.EqualsAll(x, x))
                {
                    // Near overflow (2^n would need n = 128) or NaN: rare, leave it to the scalar exp.
                    for (int j = i; j < i + 8; j++) dst[j] = MathF.Exp(src[j]);
                    continue;
                }
                Exp8(x).CopyTo(dst.Slice(i, 8));
            }
        }
        for (; i < src.Length; i++) dst[i] = MathF.Exp(src[i]);
    }

    private static Vector256<float> Exp8(Vector256<float> x)
    {
        var under = Vector256.LessThan(x, Vector256.Create(Lo));
        x = Vector256.Max(x, Vector256.Create(Lo));
        var n = Vector256.Round(x * Vector256.Create(Log2E));
        var r = x - n * Vector256.Create(C1) - n * Vector256.Create(C2);
        var p = Vector256.Create(1.9875691500e-4f);
        p = p * r + Vector256.Create(1.3981999507e-3f);
        p = p * r + Vector256.Create(8.3334519073e-3f);
        p = p * r + Vector256.Create(4.1665795894e-2f);
        p = p * r + Vector256.Create(1.6666665459e-1f);
        p = p * r + Vector256.Create(5.0000001201e-1f);
        p = p * (r * r) + r + Vector256<float>.One;
        // 2^n through the exponent bits; n is in [-126, 127] since Lo <= x <= Hi.
        var pow2 = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(under, Vector256<float>.Zero, p * pow2);
    }
}
