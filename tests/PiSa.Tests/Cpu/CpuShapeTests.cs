using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Tensors;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

public class CpuShapeTests
{
    private static float At(CpuTensor t, int n, int y, int x, int c) => t.Data[((n * t.Shape[1] + y) * t.Shape[2] + x) * t.Shape[3] + c];

    [Fact]
    public void UpsampleNearestRepeatsEachPixel()
    {
        using var ops = new CpuOps();
        var x = RandomCpu(61, [2, 3, 5, 7]);
        var y = (CpuTensor)ops.UpsampleNearest2x(x);
        Assert.Equal(new[] { 2, 6, 10, 7 }, y.Shape);
        for (int n = 0; n < 2; n++)
            for (int yy = 0; yy < 6; yy++)
                for (int xx = 0; xx < 10; xx++)
                    for (int c = 0; c < 7; c++)
                        Assert.Equal(At(x, n, yy / 2, xx / 2, c), At(y, n, yy, xx, c));
    }

    [Fact]
    public void ConcatThenSliceRoundTrips()
    {
        using var ops = new CpuOps();
        var a = RandomCpu(62, [2, 3, 4, 5]);
        var b = RandomCpu(63, [2, 3, 4, 9]);
        var cat = (CpuTensor)ops.ConcatChannels(a, b);
        Assert.Equal(new[] { 2, 3, 4, 14 }, cat.Shape);
        Assert.Equal(a.Data, ((CpuTensor)ops.SliceChannels(cat, 0, 5)).Data);
        Assert.Equal(b.Data, ((CpuTensor)ops.SliceChannels(cat, 5, 9)).Data);
        Assert.Equal(At(b, 1, 2, 3, 4), At(cat, 1, 2, 3, 9));
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.ConcatChannels(a, RandomCpu(1, [2, 3, 5, 5])));
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.SliceChannels(a, 3, 3));
    }

    [Fact]
    public void CropSpatialTakesTheWindow()
    {
        using var ops = new CpuOps();
        var x = RandomCpu(64, [2, 9, 8, 3]);
        var y = (CpuTensor)ops.CropSpatial(x, 2, 7, 1, 4);
        Assert.Equal(new[] { 2, 5, 3, 3 }, y.Shape);
        for (int n = 0; n < 2; n++)
            for (int yy = 0; yy < 5; yy++)
                for (int xx = 0; xx < 3; xx++)
                    for (int c = 0; c < 3; c++)
                        Assert.Equal(At(x, n, yy + 2, xx + 1, c), At(y, n, yy, xx, c));
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.CropSpatial(x, 0, 10, 0, 1));
    }

    [Fact]
    public void TransfersCopyAndReshapeShares()
    {
        using var ops = new CpuOps();
        var h = RandomHost(65, [2, 6]);
        var d = (CpuTensor)ops.Upload(h);
        h.Data[0] = 42;
        Assert.NotEqual(42, d.Data[0]);
        var r = (CpuTensor)ops.Reshape(d, 3, 4);
        Assert.Same(d.Data, r.Data);
        Assert.Equal(new[] { 3, 4 }, r.Shape);
        var back = ops.Download(r);
        Assert.Equal(d.Data, back.Data);
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.Reshape(d, 5, 2));
    }

    [Fact]
    public void LayoutConversionsRoundTripAndIndexCorrectly()
    {
        var nchw = RandomHost(66, [2, 3, 4, 5]);
        var nhwc = Layout.NchwToNhwc(nchw);
        Assert.Equal(new[] { 2, 4, 5, 3 }, nhwc.Shape);
        // element (n=1, c=2, y=3, x=4)
        Assert.Equal(nchw.Data[((1 * 3 + 2) * 4 + 3) * 5 + 4], nhwc.Data[((1 * 4 + 3) * 5 + 4) * 3 + 2]);
        Assert.Equal(nchw.Data, Layout.NhwcToNchw(nhwc).Data);
        var cpu = CpuOps.FromNchw(nchw);
        Assert.Equal(nhwc.Data, cpu.Data);
        Assert.Equal(nchw.Data, CpuOps.ToNchw(cpu).Data);
    }
}
