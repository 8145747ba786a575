using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Cpu;

/// <summary>Random inputs and tolerant comparison for the CPU-op tests.</summary>
internal static class CpuTestUtil
{
    public static float[] Random(int seed, long count, float scale = 1f, float offset = 0f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (long i = 0; i < count; i++)
        {
            float v = (float)(rng.NextDouble() * 2 - 1) * scale + offset;
            a[i] = v == 0 ? 1e-3f : v;
        }
        return a;
    }

    public static HostTensor RandomHost(int seed, int[] shape, float scale = 1f, float offset = 0f)
        => new(shape, Random(seed, ShapeUtil.Product(shape), scale, offset));

    public static CpuTensor RandomCpu(int seed, int[] shape, float scale = 1f, float offset = 0f)
        => new(shape, Random(seed, ShapeUtil.Product(shape), scale, offset));

    /// <summary>Asserts |actual - expected| &lt;= rel * (|expected| + rms(expected)) elementwise.</summary>
    public static void AssertClose(double[] expected, float[] actual, double rel = 1e-5, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        double ss = 0;
        foreach (var e in expected) ss += e * e;
        double rms = Math.Sqrt(ss / Math.Max(1, expected.Length));
        double worst = 0; int worstAt = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]) / (Math.Abs(expected[i]) + rms + 1e-30);
            if (!(err <= worst)) { worst = err; worstAt = i; }
        }
        Assert.True(worst <= rel, $"{what}: relative error {worst:E3} at {worstAt} (expected {(worstAt >= 0 ? expected[worstAt] : 0)}, got {(worstAt >= 0 ? actual[worstAt] : 0)}, rms {rms:E3})");
    }

    public static void AssertClose(float[] expected, float[] actual, double rel = 1e-5, string what = "")
        => AssertClose(Array.ConvertAll(expected, v => (double)v), actual, rel, what);
}
