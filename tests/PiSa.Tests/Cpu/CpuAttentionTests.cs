using PiSa.Engine.Backends.Cpu;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

public class CpuAttentionTests
{
    private static double[] Reference(CpuTensor q, CpuTensor k, CpuTensor v, int heads, bool causal)
    {
        int b = q.Shape[0], lq = q.Shape[1], hd = q.Shape[2], lk = k.Shape[1], d = hd / heads;
        var y = new double[q.Count];
        var p = new double[lk];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < lk; j++)
                    {
                        double s = 0;
                        for (int t = 0; t < d; t++) s += (double)q.Data[(bi * lq + i) * hd + h * d + t] * k.Data[(bi * lk + j) * hd + h * d + t];
                        p[j] = causal && j > i ? double.NegativeInfinity : s / Math.Sqrt(d);
                        max = Math.Max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < lk; j++) { p[j] = Math.Exp(p[j] - max); sum += p[j]; }
                    for (int t = 0; t < d; t++)
                    {
                        double o = 0;
                        for (int j = 0; j < lk; j++) o += p[j] / sum * v.Data[(bi * lk + j) * hd + h * d + t];
                        y[(bi * lq + i) * hd + h * d + t] = o;
                    }
                }
        return y;
    }

    [Theory]
    [InlineData(2, 37, 29, 3, 20, false)]   // head dim not a multiple of 16, Lq not a multiple of the query block
    [InlineData(1, 50, 77, 2, 64, false)]   // cross-attention shape (77 text tokens)
    [InlineData(2, 77, 77, 4, 16, true)]    // CLIP-style causal self-attention
    [InlineData(1, 70, 70, 1, 72, false)]   // single head, VAE-mid-block style
    [InlineData(1, 5, 300, 1, 8, false)]    // K of the P·V product spans several KC blocks
    public void MatchesReference(int b, int lq, int lk, int heads, int d, bool causal)
    {
        using var ops = new CpuOps();
        var q = RandomCpu(31, [b, lq, heads * d], 2f);
        var k = RandomCpu(32, [b, lk, heads * d], 2f);
        var v = RandomCpu(33, [b, lk, heads * d]);
        var y = (CpuTensor)ops.Attention(q, k, v, heads, causal);
        Assert.Equal(q.Shape, y.Shape);
        AssertClose(Reference(q, k, v, heads, causal), y.Data, 1e-5, "attention");
    }

    [Fact]
    public void OneKeyReturnsItsValue()
    {
        using var ops = new CpuOps();
        var q = RandomCpu(41, [2, 6, 2 * 5]);
        var k = RandomCpu(42, [2, 1, 2 * 5]);
        var v = RandomCpu(43, [2, 1, 2 * 5]);
        var y = (CpuTensor)ops.Attention(q, k, v, 2, false);
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 6; i++)
                for (int c = 0; c < 10; c++)
                    Assert.Equal(v.Data[b * 10 + c], y.Data[(b * 6 + i) * 10 + c], 6);
    }

    [Fact]
    public void CausalFirstQuerySeesOnlyFirstKey()
    {
        using var ops = new CpuOps();
        var q = RandomCpu(44, [1, 4, 8]);
        var k = RandomCpu(45, [1, 4, 8]);
        var v = RandomCpu(46, [1, 4, 8]);
        var y = (CpuTensor)ops.Attention(q, k, v, 2, true);
        for (int c = 0; c < 8; c++) Assert.Equal(v.Data[c], y.Data[c], 6);
        // Equal keys make the second query an exact average of the first two values.
        var kEq = new CpuTensor([1, 4, 8], Enumerable.Repeat(0.5f, 32).ToArray());
        var y2 = (CpuTensor)ops.Attention(q, kEq, v, 2, true);
        for (int c = 0; c < 8; c++) Assert.Equal((v.Data[c] + v.Data[8 + c]) / 2, y2.Data[8 + c], 6);
    }

    /// <summary>Channels [start, start + width) of a [B, L, C] tensor, copied out (the test's own plain loop).</summary>
    private static CpuTensor Window(CpuTensor x, int start, int width)
    {
        int rows = x.Shape[0] * x.Shape[1], c = x.Shape[2];
        var y = new CpuTensor([x.Shape[0], x.Shape[1], width]);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < width; i++) y.Data[r * width + i] = x.Data[r * c + start + i];
        return y;
    }

    /// <summary>A fused QKV output read in place (self) and a query against a fused KV tensor whose v window comes
    /// first (cross): both against the double reference on the windows copied out.</summary>
    [Theory]
    [InlineData(2, 37, 37, 3, 20, true, 0, 60, 120, 180)]    // packed q | k | v exactly (C = 3 * H * D)
    [InlineData(1, 41, 41, 2, 8, false, 5, 21, 37, 58)]      // odd offsets, spare channels around the windows
    public void Windows_of_a_fused_projection_match_the_reference(int b, int lq, int lk, int heads, int d, bool causal,
        int qStart, int kStart, int vStart, int channels)
    {
        using var ops = new CpuOps();
        int width = heads * d;
        var qkv = RandomCpu(51, [b, lq, channels], 2f);
        var y = (CpuTensor)ops.AttentionWindows(qkv, qStart, qkv, kStart, vStart, width, heads, causal);
        Assert.Equal(new[] { b, lq, width }, y.Shape);
        AssertClose(Reference(Window(qkv, qStart, width), Window(qkv, kStart, width), Window(qkv, vStart, width), heads, causal), y.Data, 1e-5, "self windows");

        var q = RandomCpu(52, [b, lq, width], 2f);
        var kv = RandomCpu(53, [b, lk + 3, 2 * width + 1], 2f);
        var yc = (CpuTensor)ops.AttentionWindows(q, 0, kv, width + 1, 0, width, heads, false);
        AssertClose(Reference(q, Window(kv, width + 1, width), Window(kv, 0, width), heads, false), yc.Data, 1e-5, "cross windows");
    }

    [Fact]
    public void Windows_past_the_channels_are_refused()
    {
        using var ops = new CpuOps();
        var qkv = RandomCpu(54, [1, 4, 24]);
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.AttentionWindows(qkv, 0, qkv, 8, 17, 8, 2, false));
        Assert.Throws<PiSa.Engine.PisaException>(() => ops.AttentionWindows(qkv, -1, qkv, 8, 16, 8, 2, false));
    }
}
