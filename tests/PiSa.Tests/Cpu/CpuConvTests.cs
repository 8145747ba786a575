using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

public class CpuConvTests
{
    /// <summary>Direct convolution from the definition, NHWC in and out, float64 accumulation.</summary>
    private static double[] Reference(float[] x, int n, int h, int w, int c, float[] wt, int o, int kh, int kw,
        float[]? bias, int stride, Pad2d pad, float[]? residual, out int oh, out int ow)
    {
        oh = (h + pad.Top + pad.Bottom - kh) / stride + 1;
        ow = (w + pad.Left + pad.Right - kw) / stride + 1;
        var y = new double[n * oh * ow * o];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int oc = 0; oc < o; oc++)
                    {
                        double s = bias?[oc] ?? 0;
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int iy = oy * stride + ky - pad.Top, ix = ox * stride + kx - pad.Left;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                for (int ic = 0; ic < c; ic++)
                                    s += (double)x[((b * h + iy) * w + ix) * c + ic] * wt[((oc * c + ic) * kh + ky) * kw + kx];
                            }
                        int idx = ((b * oh + oy) * ow + ox) * o + oc;
                        if (residual != null) s += residual[idx];
                        y[idx] = s;
                    }
        return y;
    }

    [Theory]
    [InlineData(1, 5, 7, 3, 4, 3, 1, 1, 1, 1, 1, true, false)]    // tiny, odd sizes
    [InlineData(2, 9, 11, 13, 21, 3, 1, 1, 1, 1, 1, true, true)]  // batch 2, channels not multiples of 8/16, residual
    [InlineData(1, 8, 8, 35, 17, 1, 1, 0, 0, 0, 0, true, false)]  // 1x1 (direct GEMM path)
    [InlineData(2, 7, 9, 12, 18, 1, 1, 0, 0, 0, 0, false, true)]  // 1x1, no bias, residual
    [InlineData(2, 13, 10, 19, 24, 3, 2, 0, 1, 0, 1, true, false)]// Downsample2D: stride 2, asymmetric pad (0,1,0,1)
    [InlineData(1, 12, 12, 40, 33, 3, 2, 1, 1, 1, 1, true, false)]// stride 2, symmetric pad
    [InlineData(1, 6, 5, 300, 20, 3, 1, 1, 1, 1, 1, true, false)] // K = 2700 spans several KC blocks
    [InlineData(1, 4, 6, 4, 7, 2, 1, 0, 1, 1, 0, true, true)]     // even kernel, odd padding
    public void MatchesDirectConvolution(int n, int h, int w, int c, int o, int k, int stride, int pt, int pb, int pl, int pr, bool withBias, bool withResidual)
    {
        using var ops = new CpuOps();
        var pad = new Pad2d(pt, pb, pl, pr);
        var x = RandomCpu(1, [n, h, w, c]);
        var wt = RandomHost(2, [o, c, k, k], 1f / MathF.Sqrt(c * k * k));
        var bias = withBias ? RandomHost(3, [o]) : null;
        int oh = (h + pt + pb - k) / stride + 1, ow = (w + pl + pr - k) / stride + 1;
        var res = withResidual ? RandomCpu(4, [n, oh, ow, o]) : null;
        var expected = Reference(x.Data, n, h, w, c, wt.Data, o, k, k, bias?.Data, stride, pad, res?.Data, out _, out _);
        var y = (CpuTensor)ops.Conv2d(x, wt, bias, stride, pad, res);
        Assert.Equal(new[] { n, oh, ow, o }, y.Shape);
        AssertClose(expected, y.Data, 1e-5, "conv");
        // Second call hits the packed-weight cache and must give the same bits.
        var y2 = (CpuTensor)ops.Conv2d(x, wt, bias, stride, pad, res);
        Assert.Equal(y.Data, y2.Data);
    }

    [Fact]
    public void HandCheckedOnesKernel()
    {
        // 3x3 all-ones kernel on a 3x3 image of 1..9 with padding 1: each output is the sum of its neighbourhood.
        using var ops = new CpuOps();
        var x = new CpuTensor([1, 3, 3, 1], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var w = new PiSa.Engine.Tensors.HostTensor([1, 1, 3, 3], Enumerable.Repeat(1f, 9).ToArray());
        var y = (CpuTensor)ops.Conv2d(x, w, new PiSa.Engine.Tensors.HostTensor([1], [0.5f]), 1, Pad2d.Same(1));
        Assert.Equal(new[] { 12.5f, 21.5f, 16.5f, 27.5f, 45.5f, 33.5f, 24.5f, 39.5f, 28.5f }, y.Data);
    }

    [Fact]
    public void RejectsMismatchedWeight()
    {
        using var ops = new CpuOps();
        var x = RandomCpu(1, [1, 4, 4, 3]);
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.Conv2d(x, RandomHost(2, [5, 4, 3, 3]), null, 1, Pad2d.Same(1)));
    }
}
