using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

/// <summary>
/// The CPU's upsampled conv gathers from the small tensor instead of building the 2x one; it must give the same bits
/// as the composition it stands for (upsample, crop, conv), on random inputs with odd sizes, both crops, padding and
/// stride, and in batches.
/// </summary>
public class CpuFusedConvTests
{
    [Theory]
    [InlineData(1, 5, 7, 6, 9, 3, 1, 1, 0, 0)]     // 3x3 pad 1, no crop
    [InlineData(2, 4, 3, 13, 8, 3, 1, 1, 1, 1)]    // both sides cropped by one (diffusers' output_size case)
    [InlineData(1, 6, 6, 20, 17, 1, 1, 0, 0, 1)]   // 1x1, width cropped
    [InlineData(1, 7, 5, 4, 12, 3, 2, 1, 1, 0)]    // stride 2
    [InlineData(1, 9, 9, 300, 16, 3, 1, 1, 0, 0)]  // K past one GEMM block
    public void Matches_upsample_then_conv_bit_for_bit(int n, int h, int w, int c, int o, int k, int stride, int pad, int cropH, int cropW)
    {
        using var ops = new CpuOps();
        var x = RandomCpu(1 + h * w, [n, h, w, c]);
        var weight = RandomHost(2, [o, c, k, k], 0.2f);
        var bias = RandomHost(3, [o]);
        int upH = 2 * h - cropH, upW = 2 * w - cropW;
        var p = Pad2d.Same(pad);
        using var composed = IOps.ComposeConv2dUpsampled(ops, x, upH, upW, weight, bias, stride, p);
        using var fused = ops.Conv2dUpsampled(x, upH, upW, weight, bias, stride, p);
        Assert.Equal(composed.Shape, fused.Shape);
        Assert.Equal(((CpuTensor)composed).Data.AsSpan(0, (int)composed.Count).ToArray(), ((CpuTensor)fused).Data.AsSpan(0, (int)fused.Count).ToArray());
    }

    [Fact]
    public void Refuses_a_size_that_is_no_2x_upsampling()
    {
        using var ops = new CpuOps();
        var x = RandomCpu(1, [1, 4, 4, 3]);
        var e = Assert.Throws<PiSa.Engine.PisaException>(() => ops.Conv2dUpsampled(x, 6, 8, RandomHost(2, [2, 3, 3, 3]), null, 1, Pad2d.Same(1)));
        Assert.Contains("cannot be upsampled", e.Message);
    }
}
