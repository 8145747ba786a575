using PiSa.Engine.Models.Common;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>Nearest resize to an arbitrary size = F.interpolate(mode="nearest", size=...), whichever path it takes.</summary>
public class UnetClipNearestResizeTests
{
    [Theory]
    [InlineData(2, 1, 3, 2)]   // the fixture's 2x1 -> 3x2
    [InlineData(3, 2, 5, 4)]
    [InlineData(5, 6, 10, 11)]
    [InlineData(4, 4, 8, 8)]   // plain 2x
    [InlineData(3, 5, 7, 11)]  // 2*in + 1: host path
    [InlineData(7, 3, 9, 4)]   // arbitrary
    public void Resize_MatchesTorchNearestIndices(int inH, int inW, int outH, int outW)
    {
        using var ops = new NaiveOps();
        var x = UnetClipFixtures.RandomNchw([2, inH, inW, 3], seed: inH * 31 + inW);
        using var dx = ops.Upload(x);
        using var dy = NearestResize.Resize(ops, dx, outH, outW);
        var y = ops.Download(dy);
        Assert.Equal(new[] { 2, outH, outW, 3 }, y.Shape);
        for (int b = 0; b < 2; b++)
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                    for (int c = 0; c < 3; c++)
                    {
                        // torch: src = min(floor(dst * (float)(in / out)), in - 1)
                        int sy = Math.Min((int)Math.Floor(oy * (float)((float)inH / outH)), inH - 1);
                        int sx = Math.Min((int)Math.Floor(ox * (float)((float)inW / outW)), inW - 1);
                        Assert.Equal(x.Data[((b * inH + sy) * inW + sx) * 3 + c], y.Data[((b * outH + oy) * outW + ox) * 3 + c]);
                    }
    }
}
