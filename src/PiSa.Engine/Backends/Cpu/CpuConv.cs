namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// 2-D convolution on NHWC as a GEMM: rows are output pixels, K runs over (ky, kx, input channel),
/// N over output channels. The im2col matrix is never materialised: <see cref="Gather"/> fills one
/// (rows x KC) tile at a time from the input, writing zeros where the window falls into the padding.
/// A 1x1 stride-1 unpadded conv reads the input in place, like a linear layer.
/// </summary>
internal static class CpuConv
{
    public static CpuTensor Forward(CpuTensor x, IPackedWeight w, int kh, int kw, float[]? bias, int stride, Pad2d pad, CpuTensor? residual)
    {
        int n = x.Shape[0], h = x.Shape[1], wd = x.Shape[2], c = x.Shape[3];
        int o = w.N;
        int oh = (h + pad.Top + pad.Bottom - kh) / stride + 1;
        int ow = (wd + pad.Left + pad.Right - kw) / stride + 1;
        if (h + pad.Top + pad.Bottom < kh || wd + pad.Left + pad.Right < kw)
            throw new PisaException($"Conv2d: input [{Tensors.ShapeUtil.Format(x.Shape)}] with padding {pad} is smaller than the {kh}x{kw} kernel");
        var outShape = new[] { n, oh, ow, o };
        if (residual != null && !Tensors.ShapeUtil.Equal(residual.Shape, outShape))
            throw new PisaException($"Conv2d: residual [{Tensors.ShapeUtil.Format(residual.Shape)}] does not match output [{Tensors.ShapeUtil.Format(outShape)}]");
        var y = CpuTensor.Rent(outShape);
        int rows = n * oh * ow;
        CpuRows.InitBiasResidual(y.Data, rows, o, bias, residual?.Data);
        GemmA a = kh == 1 && kw == 1 && stride == 1 && pad == default
            ? new DirectA(x.Data, 0, c)
            : new Gather(x.Data, h, wd, c, kw, stride, pad, oh, ow);
        w.MultiplyAdd(rows, a, y.Data, 0, o);
        return y;
    }

    private sealed class Gather(float[] x, int h, int w, int c, int kw, int stride, Pad2d pad, int oh, int ow) : GemmA
    {
        public override void Pack(int m0, int mc, int k0, int kc, Span<float> dst)
        {
            var src = x.AsSpan();
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
                        src.Slice(((b * h + iy) * w + ix) * c + ch, len).CopyTo(seg);
                    else
                        seg.Clear();
                    k += len;
                }
            }
        }
    }
}
