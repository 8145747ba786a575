using PiSa.Engine.Tensors;

namespace PiSa.Tests;

/// <summary>The error measures the tests compare outputs with (one definition for every area).</summary>
public static class Metrics
{
    /// <summary>||actual - expected|| / ||expected||, in double; an all-zero expected counts as 1e-30 so the ratio stays finite.</summary>
    public static double RelativeL2(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++) { double d = actual[i] - expected[i]; num += d * d; den += (double)expected[i] * expected[i]; }
        return Math.Sqrt(num / Math.Max(den, 1e-30));
    }

    /// <summary>
    /// Relative L2 of two tensors of the same shape; fails the test on a shape mismatch, on a NaN/Inf in
    /// <paramref name="actual"/> and on an all-zero <paramref name="expected"/> (which would make any output pass or fail).
    /// </summary>
    public static double RelativeL2(HostTensor actual, HostTensor expected)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        int bad = Array.FindIndex(actual.Data, v => !float.IsFinite(v));
        Assert.True(bad < 0, $"non-finite value {(bad < 0 ? 0 : actual.Data[bad])} at {bad}");
        Assert.True(Array.Exists(expected.Data, v => v != 0), "expected tensor is all zeros");
        return RelativeL2(actual.Data, expected.Data);
    }

    public static double MaxAbs(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double m = 0;
        for (int i = 0; i < expected.Length; i++) m = Math.Max(m, Math.Abs(actual[i] - expected[i]));
        return m;
    }
}
