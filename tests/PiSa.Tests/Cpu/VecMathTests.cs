using PiSa.Engine.Backends.Cpu;

namespace PiSa.Tests.Cpu;

/// <summary>The vectorised SiLU/GELU against the scalar float64 definitions they replace (the reference): every
/// float32 result within 1e-7 relative (one float32 rounding is 6e-8), over a dense sweep, the far tails and
/// random values, with spans long enough for the vector path and odd lengths for the scalar tail.</summary>
public class VecMathTests
{
    private static float[] Sweep()
    {
        var x = new List<float>();
        for (int i = 0; i <= 400_000; i++) x.Add(-20f + 40f * i / 400_000);  // dense over the interesting range
        foreach (float v in new[] { 0f, -0f, 1e-30f, -1e-30f, 1e-6f, -1e-6f, 15.4f, -15.4f, 15.6f, -15.6f, 30f, -30f,
                     88f, -88f, 90f, -90f, 700f, -700f, 800f, -800f, 1e10f, -1e10f, float.MaxValue, -float.MaxValue,
                     float.Epsilon, -float.Epsilon })
            x.Add(v);
        var rng = new Random(7);
        for (int i = 0; i < 100_001; i++) x.Add((float)(rng.NextDouble() * 2 - 1) * MathF.Pow(10, (float)(rng.NextDouble() * 6 - 3)));
        return [.. x];
    }

    /// <summary>Every value within one float32 ulp of the reference (1.2e-7 relative at most, 6e-8 at best), and at
    /// most 1 in 1000 values not bit-equal: a one-ulp flip happens only where the exact value lies within the
    /// approximation's 1e-10 of a rounding midpoint.</summary>
    internal static void AssertWithin(float[] x, float[] got, Func<float, float> reference, string what)
    {
        int bad = 0, flips = 0;
        string first = "";
        double maxRel = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float e = reference(x[i]);
            if (got[i] == e) continue;
            flips++;
            double err = Math.Abs((double)got[i] - e);
            double ulp = MathF.BitIncrement(Math.Abs(e)) - Math.Abs(e);
            if (Math.Abs(e) >= 1.17549435e-38f) maxRel = Math.Max(maxRel, err / Math.Abs(e)); // normal range (below it an ulp is a larger fraction)
            if (err > ulp && bad++ == 0) first = $"{what}({x[i]:R}) = {got[i]:R}, reference {e:R}";
        }
        Assert.True(bad == 0, $"{bad} {what} values off by more than one float32 ulp; first: {first}");
        Assert.True(flips <= x.Length / 1000, $"{flips} of {x.Length} {what} values differ from the reference by one ulp (max relative {maxRel:G3})");
        Assert.True(maxRel <= 1.2e-7, $"{what}: max relative difference {maxRel:G3}");
    }

    [Fact]
    public void SiluMatchesTheFloat64Definition()
    {
        var x = Sweep();
        var y = new float[x.Length];
        VecMath.Silu(x, y);
        AssertWithin(x, y, CpuElementwise.Silu, "silu");
    }

    [Fact]
    public void GeluMatchesTheErfcDefinition()
    {
        var x = Sweep();
        var y = new float[x.Length];
        VecMath.Gelu(x, y);
        AssertWithin(x, y, CpuElementwise.Gelu, "gelu");
    }

    [Fact]
    public void GegluIsAProductWithTheReferenceGelu()
    {
        var g = Sweep();
        var rng = new Random(3);
        var a = Array.ConvertAll(g, _ => (float)(rng.NextDouble() * 4 - 2));
        var y = new float[g.Length];
        VecMath.Geglu(a, g, y);
        int bad = 0;
        for (int i = 0; i < g.Length; i++)
        {
            float e = a[i] * CpuElementwise.Gelu(g[i]);
            // One flipped ulp of gelu(g), times a, rounded again: at most two float32 ulps of the product.
            double ulp = MathF.BitIncrement(Math.Abs(e)) - Math.Abs(e);
            if (Math.Abs((double)y[i] - e) > 2 * ulp) bad++;
        }
        Assert.Equal(0, bad);
    }

    [Fact]
    public void NaNsStayNaNAndInPlaceWorks()
    {
        var x = new float[] { 1f, float.NaN, -2f, 3f, 0.5f, -0.5f, 4f, 5f, float.NaN, 2f };
        var y = (float[])x.Clone();
        VecMath.Gelu(y, y);
        for (int i = 0; i < x.Length; i++)
            if (float.IsNaN(x[i])) Assert.True(float.IsNaN(y[i]));
            else Assert.Equal(CpuElementwise.Gelu(x[i]), y[i], 1e-6f);
        VecMath.Silu(x, y);
        Assert.True(float.IsNaN(y[1]) && float.IsNaN(y[8]));
        Assert.Equal(CpuElementwise.Silu(-2f), y[2], 1e-6f);
    }

    [Fact]
    public void TheCheckCanFail()
    {
        // A GELU off by 3 float32 ulps somewhere must be caught by the same assertion.
        var x = Sweep();
        var y = new float[x.Length];
        VecMath.Gelu(x, y);
        int k = Array.IndexOf(x, 1e-6f);
        y[k] = MathF.BitIncrement(MathF.BitIncrement(MathF.BitIncrement(y[k])));
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertWithin(x, y, CpuElementwise.Gelu, "gelu"));
    }
}
