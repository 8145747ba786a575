using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Tensors;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

public class CpuNormTests
{
    private static double[] ReferenceGroupNorm(float[] x, int[] shape, float[] gamma, float[] beta, int groups, double eps, bool silu)
    {
        int n = shape[0], c = shape[^1];
        long positions = x.LongLength / n / c;
        int cpg = c / groups;
        var y = new double[x.Length];
        for (int b = 0; b < n; b++)
            for (int g = 0; g < groups; g++)
            {
                double mean = 0, variance = 0;
                for (long p = 0; p < positions; p++)
                    for (int j = 0; j < cpg; j++) mean += x[(b * positions + p) * c + g * cpg + j];
                mean /= positions * cpg;
                for (long p = 0; p < positions; p++)
                    for (int j = 0; j < cpg; j++) { double d = x[(b * positions + p) * c + g * cpg + j] - mean; variance += d * d; }
                variance /= positions * cpg;
                for (long p = 0; p < positions; p++)
                    for (int j = 0; j < cpg; j++)
                    {
                        long i = (b * positions + p) * c + g * cpg + j;
                        double v = (x[i] - mean) / Math.Sqrt(variance + eps) * gamma[g * cpg + j] + beta[g * cpg + j];
                        y[i] = silu ? v / (1 + Math.Exp(-v)) : v;
                    }
            }
        return y;
    }

    [Theory]
    [InlineData(new[] { 1, 5, 7, 12 }, 4, false, 0f)]
    [InlineData(new[] { 2, 9, 11, 40 }, 8, true, 0f)]
    [InlineData(new[] { 2, 17, 64 }, 32, true, 0f)]     // [B, L, C] input
    [InlineData(new[] { 1, 33, 31, 96 }, 32, false, 100f)] // large mean: shifted accumulation keeps the variance
    [InlineData(new[] { 2, 3, 3, 6 }, 1, true, 0f)]
    public void GroupNormMatchesReference(int[] shape, int groups, bool silu, float offset)
    {
        using var ops = new CpuOps();
        int c = shape[^1];
        var x = RandomCpu(11, shape, 2f, offset);
        var gamma = RandomHost(12, [c]);
        var beta = RandomHost(13, [c]);
        var y = (CpuTensor)ops.GroupNorm(x, gamma, beta, groups, 1e-6f, silu);
        AssertClose(ReferenceGroupNorm(x.Data, shape, gamma.Data, beta.Data, groups, 1e-6, silu), y.Data, offset > 0 ? 3e-5 : 1e-5, "groupnorm");

        var stats = ops.GroupNormStats(x, groups);
        var y2 = (CpuTensor)ops.GroupNormApply(x, stats, gamma, beta, groups, 1e-6f, silu);
        Assert.Equal(y.Data, y2.Data);
    }

    [Fact]
    public void GroupNormHandChecked()
    {
        using var ops = new CpuOps();
        // [N=1, H=1, W=2, C=2] = pixels (1,2) and (3,4).
        var x = new CpuTensor([1, 1, 2, 2], [1, 2, 3, 4]);
        var gamma = new HostTensor([2], [1, 2]);
        var beta = new HostTensor([2], [0, 1]);
        // One group: mean 2.5, biased variance 1.25.
        var y1 = (CpuTensor)ops.GroupNorm(x, gamma, beta, 1, 0f, false);
        double s = 1 / Math.Sqrt(1.25);
        AssertClose(new[] { -1.5 * s, -0.5 * s * 2 + 1, 0.5 * s, 1.5 * s * 2 + 1 }, y1.Data, 1e-6);
        // Two groups = channels: {1,3} and {2,4}, each normalises to (-1, 1).
        var y2 = (CpuTensor)ops.GroupNorm(x, gamma, beta, 2, 0f, false);
        AssertClose(new double[] { -1, -1, 1, 3 }, y2.Data, 1e-6);
        var stats = ops.GroupNormStats(x, 2);
        Assert.Equal(new[] { 2f, 1f, 3f, 1f }, stats);
    }

    [Fact]
    public void GroupNormStatsMergeAcrossTilesLikeWholeImage()
    {
        // Statistics of a tall image equal the count-weighted merge of its two halves' statistics
        // (the property tiled GroupNorm relies on).
        using var ops = new CpuOps();
        var x = RandomCpu(14, [1, 10, 6, 8], 1f, 0.5f);
        var top = ops.CropSpatial(x, 0, 4, 0, 6);
        var bottom = ops.CropSpatial(x, 4, 10, 0, 6);
        var whole = ops.GroupNormStats(x, 2);
        var a = ops.GroupNormStats(top, 2);
        var b = ops.GroupNormStats(bottom, 2);
        for (int g = 0; g < 2; g++)
        {
            double wa = 4.0 / 10, wb = 6.0 / 10;
            double mean = wa * a[2 * g] + wb * b[2 * g];
            double ex2 = wa * (a[2 * g + 1] + (double)a[2 * g] * a[2 * g]) + wb * (b[2 * g + 1] + (double)b[2 * g] * b[2 * g]);
            Assert.Equal(mean, whole[2 * g], 5);
            Assert.Equal(ex2 - mean * mean, whole[2 * g + 1], 5);
        }
    }

    [Fact]
    public void GroupNormRejectsIndivisibleChannels()
    {
        using var ops = new CpuOps();
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.GroupNorm(RandomCpu(1, [1, 2, 2, 10]), RandomHost(2, [10]), RandomHost(3, [10]), 4, 1e-5f, false));
    }

    [Theory]
    [InlineData(new[] { 3, 7 })]
    [InlineData(new[] { 2, 77, 65 })]
    public void LayerNormMatchesReference(int[] shape)
    {
        using var ops = new CpuOps();
        int c = shape[^1];
        var x = RandomCpu(21, shape, 3f, 1f);
        var gamma = RandomHost(22, [c]);
        var beta = RandomHost(23, [c]);
        var y = (CpuTensor)ops.LayerNorm(x, gamma, beta, 1e-5f);
        int rows = (int)(x.Count / c);
        var expected = new double[x.Count];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int i = 0; i < c; i++) mean += x.Data[r * c + i];
            mean /= c;
            for (int i = 0; i < c; i++) variance += Math.Pow(x.Data[r * c + i] - mean, 2);
            variance /= c;
            for (int i = 0; i < c; i++)
                expected[r * c + i] = (x.Data[r * c + i] - mean) / Math.Sqrt(variance + 1e-5) * gamma.Data[i] + beta.Data[i];
        }
        AssertClose(expected, y.Data, 1e-5, "layernorm");
    }

    [Fact]
    public void LayerNormHandChecked()
    {
        using var ops = new CpuOps();
        var y = (CpuTensor)ops.LayerNorm(new CpuTensor([1, 3], [1, 2, 3]), new HostTensor([3], [1, 1, 1]), new HostTensor([3], [0, 0, 0]), 0f);
        double s = Math.Sqrt(1.5); // biased variance 2/3
        AssertClose(new[] { -s, 0, s }, y.Data, 1e-6);
    }
}
