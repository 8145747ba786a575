namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// What a conv reads: an NHWC tensor, or one the model would first have built from smaller ones (the nearest 2x
/// upsampling, cropped to UpH x UpW; the channel concat of two tensors). The gather reads those straight from their
/// sources, so the larger tensor is never written, and every gathered value is the one the built tensor would hold
/// (the result is the same bits).
/// </summary>
internal sealed record ConvInput(float[] A, int C1, float[]? B, int C2, int N, int H, int W, bool Upsampled, int UpH, int UpW)
{
    public int C => C1 + C2;
    public int LogicalH => Upsampled ? UpH : H;
    public int LogicalW => Upsampled ? UpW : W;

    public static ConvInput Of(CpuTensor x) => new(x.Data, x.Shape[3], null, 0, x.Shape[0], x.Shape[1], x.Shape[2], false, 0, 0);
}

/// <summary>
/// 2-D convolution on NHWC as a GEMM: rows are output pixels, K runs over (ky, kx, input channel),
/// N over output channels. The im2col matrix is never materialised: <see cref="Gather"/> fills one
/// (rows x KC) tile at a time from the input, writing zeros where the window falls into the padding.
/// A 1x1 stride-1 unpadded conv of a plain tensor reads the input in place, like a linear layer.
/// </summary>
internal static class CpuConv
{
    public static CpuTensor Forward(CpuTensor x, IPackedWeight w, int kh, int kw, float[]? bias, int stride, Pad2d pad, CpuTensor? residual)
        => Forward(ConvInput.Of(x), w, kh, kw, bias, stride, pad, residual);

    public static CpuTensor Forward(ConvInput x, IPackedWeight w, int kh, int kw, float[]? bias, int stride, Pad2d pad, CpuTensor? residual)
    {
        int n = x.N, h = x.LogicalH, wd = x.LogicalW;
        int o = w.N;
        if (h + pad.Top + pad.Bottom < kh || wd + pad.Left + pad.Right < kw)
            throw new PisaException($"Conv2d: input [{n}, {h}, {wd}, {x.C}] with padding {pad} is smaller than the {kh}x{kw} kernel");
        int oh = (h + pad.Top + pad.Bottom - kh) / stride + 1;
        int ow = (wd + pad.Left + pad.Right - kw) / stride + 1;
        var outShape = new[] { n, oh, ow, o };
        if (residual != null && !Tensors.ShapeUtil.Equal(residual.Shape, outShape))
            throw new PisaException($"Conv2d: residual [{Tensors.ShapeUtil.Format(residual.Shape)}] does not match output [{Tensors.ShapeUtil.Format(outShape)}]");
        var y = CpuTensor.Rent(outShape);
        int rows = n * oh * ow;
        CpuRows.InitBiasResidual(y.Data, rows, o, bias, residual?.Data);
        GemmA a = kh == 1 && kw == 1 && stride == 1 && pad == default && x.B == null && !x.Upsampled
            ? new DirectA(x.A, 0, x.C1)
            : new Gather(x, kw, stride, pad, oh, ow);
        w.MultiplyAdd(rows, a, y.Data, 0, o);
        return y;
    }

    private sealed class Gather(ConvInput x, int kw, int stride, Pad2d pad, int oh, int ow) : GemmA
    {
        public override void Pack(int m0, int mc, int k0, int kc, Span<float> dst)
        {
            int c = x.C, c1 = x.C1, h = x.LogicalH, w = x.LogicalW;
            int shift = x.Upsampled ? 1 : 0;  // nearest 2x: logical row iy reads source row iy / 2
            var srcA = x.A.AsSpan();
            var srcB = x.B.AsSpan();
            for (int r = 0; r < mc; r++)
            {
                int m = m0 + r;
                int ox = m % ow, t = m / ow, oy = t % oh, b = t / oh;
                var row = dst.Slice(r * kc, kc);
                int k = k0, kEnd = k0 + kc;
                while (k < kEnd)
                {
                    int tap = k / c, ch = k - tap * c;
                    int len = Math.Min(c - ch, kEnd - k);
                    int ky = tap / kw, kx = tap - ky * kw;
                    int iy = oy * stride + ky - pad.Top, ix = ox * stride + kx - pad.Left;
                    var seg = row.Slice(k - k0, len);
                    if ((uint)iy < (uint)h && (uint)ix < (uint)w)
                    {
                        long pixel = ((long)b * x.H + (iy >> shift)) * x.W + (ix >> shift);
                        if (ch < c1)
                        {
                            len = Math.Min(len, c1 - ch);
                            seg = seg[..len];
                            srcA.Slice((int)(pixel * c1 + ch), len).CopyTo(seg);
                        }
                        else
                            srcB.Slice((int)(pixel * x.C2 + ch - c1), len).CopyTo(seg);
                    }
                    else
                        seg.Clear();
                    k += len;
                }
            }
        }
    }
}
