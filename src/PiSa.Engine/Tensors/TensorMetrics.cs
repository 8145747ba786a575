namespace PiSa.Engine.Tensors;

/// <summary>Distances between float tensors, accumulated in double.</summary>
public static class TensorMetrics
{
    /// <summary>||actual - expected|| / ||expected|| (expected all zeros counts as norm 1e-15).</summary>
    public static double RelativeL2(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (actual.Length != expected.Length) throw new ArgumentException($"lengths differ: {actual.Length} vs {expected.Length}");
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++) { double d = actual[i] - expected[i]; num += d * d; den += (double)expected[i] * expected[i]; }
        return Math.Sqrt(num / Math.Max(den, 1e-30));
    }
}
