using PiSa.Engine.Backends.Cpu;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

public class CpuElementwiseTests
{
    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.1, 0.1124629160182849)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(2.4999, 0.99959283010)]   // erf(2.5) - 2/sqrt(pi) exp(-6.25) 1e-4 (+ second order)
    [InlineData(-1.5, -0.9661051464753108)]
    [InlineData(3.0, 0.9999779095030014)]
    public void ErfKnownValues(double z, double expected)
        => Assert.Equal(expected, ErfMath.Erf(z), z == 2.4999 ? 10 : 14);

    [Theory]
    [InlineData(2.5, 4.069520174449590e-4)]
    [InlineData(3.0, 2.209049699858544e-5)]
    [InlineData(4.0, 1.541725790028002e-8)]
    [InlineData(6.0, 2.151973671249892e-17)]
    [InlineData(1.0, 0.1572992070502851)]
    public void ErfcKnownValuesRelative(double z, double expected)
        => Assert.True(Math.Abs(ErfMath.Erfc(z) - expected) <= 1e-12 * expected, $"erfc({z}) = {ErfMath.Erfc(z)}");

    [Fact]
    public void ErfIsContinuousAcrossTheMethodSwitch()
        => Assert.True(Math.Abs(ErfMath.Erfc(2.5 - 1e-12) - ErfMath.Erfc(2.5)) < 1e-14);

    [Fact]
    public void FastExpIsWithinAFewUlp()
    {
        var x = new float[20003];
        for (int i = 0; i < x.Length; i++) x[i] = -100f + 190f * i / (x.Length - 1);
        var y = new float[x.Length];
        FastExp.Exp(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double e = Math.Exp(x[i]);
            if (e > float.MaxValue) Assert.Equal(float.PositiveInfinity, y[i]);
            else if (e < 1.2e-38) Assert.True(y[i] < 1.2e-38f, $"exp({x[i]}) = {y[i]}");  // flushed below the normal range
            else Assert.True(Math.Abs(y[i] - e) <= 2.5e-7 * e, $"exp({x[i]}) = {y[i]}, expected {e}");
        }
    }

    [Fact]
    public void GeluMatchesErfDefinitionAndKnownValues()
    {
        using var ops = new CpuOps();
        var x = new CpuTensor([6], [-3f, -1f, 0f, 0.5f, 1f, 10f]);
        var y = (CpuTensor)ops.Gelu(x);
        // torch.nn.functional.gelu values in float64.
        AssertClose(new[] { -0.004049694908, -0.158655253931, 0, 0.345731339942, 0.841344746069, 10 }, y.Data, 1e-7);
        var r = RandomCpu(51, [3, 7, 9], 4f);
        var g = (CpuTensor)ops.Gelu(r);
        var expected = Array.ConvertAll(r.Data, v => 0.5 * v * (1 + ErfMath.Erf(v / Math.Sqrt(2))));
        AssertClose(expected, g.Data, 1e-6, "gelu");
    }

    [Fact]
    public void SiluMatchesDefinition()
    {
        using var ops = new CpuOps();
        var x = RandomCpu(52, [2, 5, 5, 3], 6f);
        var y = (CpuTensor)ops.Silu(x);
        AssertClose(Array.ConvertAll(x.Data, v => v / (1 + Math.Exp(-v))), y.Data, 1e-6, "silu");
        Assert.Equal(1f / (1f + MathF.Exp(-1f)), ((CpuTensor)ops.Silu(new CpuTensor([1], [1f]))).Data[0], 6);
    }

    [Fact]
    public void GegluIsFirstHalfTimesGeluOfSecondHalf()
    {
        using var ops = new CpuOps();
        var x = RandomCpu(53, [2, 3, 2 * 11], 3f);
        var y = (CpuTensor)ops.Geglu(x);
        Assert.Equal(new[] { 2, 3, 11 }, y.Shape);
        var expected = new double[y.Count];
        for (int r = 0; r < 6; r++)
            for (int j = 0; j < 11; j++)
            {
                double a = x.Data[r * 22 + j], g = x.Data[r * 22 + 11 + j];
                expected[r * 11 + j] = a * 0.5 * g * (1 + ErfMath.Erf(g / Math.Sqrt(2)));
            }
        AssertClose(expected, y.Data, 1e-6, "geglu");
    }

    [Fact]
    public void ArithmeticOps()
    {
        using var ops = new CpuOps();
        var a = RandomCpu(54, [2, 3, 4, 5]);
        var b = RandomCpu(55, [2, 3, 4, 5]);
        var ax = (CpuTensor)ops.Axpby(a, b, 0.3f, -1.7f);
        var ss = (CpuTensor)ops.ScaleShift(a, 2.5f, -0.25f);
        var cl = (CpuTensor)ops.Clamp(a, -0.2f, 0.4f);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.True(Math.Abs(0.3 * a.Data[i] - 1.7 * b.Data[i] - ax.Data[i]) < 1e-6);
            Assert.True(Math.Abs(2.5 * a.Data[i] - 0.25 - ss.Data[i]) < 1e-6);
            Assert.Equal(Math.Clamp(a.Data[i], -0.2f, 0.4f), cl.Data[i]);
        }
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.Axpby(a, RandomCpu(1, [2, 3, 4, 6]), 1, 1));
    }

    [Fact]
    public void AddChannelVectorBroadcastsPerBatchOrShared()
    {
        using var ops = new CpuOps();
        var x = RandomCpu(56, [2, 3, 4, 5]);
        var perBatch = RandomCpu(57, [2, 5]);
        var shared = RandomCpu(58, [1, 5]);
        var y1 = (CpuTensor)ops.AddChannelVector(x, perBatch);
        var y2 = (CpuTensor)ops.AddChannelVector(x, shared);
        for (int i = 0; i < x.Count; i++)
        {
            int b = i / 60, c = i % 5;
            Assert.Equal(x.Data[i] + perBatch.Data[b * 5 + c], y1.Data[i]);
            Assert.Equal(x.Data[i] + shared.Data[c], y2.Data[i]);
        }
        var seq = RandomCpu(59, [2, 7, 5]);
        var y3 = (CpuTensor)ops.AddChannelVector(seq, perBatch);
        Assert.Equal(seq.Data[7 * 5 + 2] + perBatch.Data[5 + 2], y3.Data[7 * 5 + 2]);
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.AddChannelVector(x, RandomCpu(1, [3, 5])));
    }
}
