using PiSa.Engine.Backends.Cpu;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

public class CpuLinearTests
{
    [Theory]
    [InlineData(new[] { 3, 7 }, 7, 9, true, false)]
    [InlineData(new[] { 2, 77, 33 }, 33, 50, true, true)]
    [InlineData(new[] { 1, 130, 300 }, 300, 17, false, false)]   // K > KC, N not a multiple of 16
    [InlineData(new[] { 2, 4, 4, 24 }, 24, 40, true, true)]      // NHWC input, linear over channels
    public void MatchesReference(int[] xShape, int inF, int outF, bool withBias, bool withResidual)
    {
        using var ops = new CpuOps();
        var x = RandomCpu(5, xShape);
        var w = RandomHost(6, [outF, inF], 0.3f);
        var b = withBias ? RandomHost(7, [outF]) : null;
        var outShape = (int[])xShape.Clone();
        outShape[^1] = outF;
        var res = withResidual ? RandomCpu(8, outShape) : null;
        int rows = (int)(x.Count / inF);
        var expected = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = b?.Data[o] ?? 0;
                for (int i = 0; i < inF; i++) s += (double)x.Data[r * inF + i] * w.Data[o * inF + i];
                if (res != null) s += res.Data[r * outF + o];
                expected[r * outF + o] = s;
            }
        var y = (CpuTensor)ops.Linear(x, w, b, res);
        Assert.Equal(outShape, y.Shape);
        AssertClose(expected, y.Data, 1e-5, "linear");
    }
}
