using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>
/// A deliberately plain, test-only IOps (loops, double accumulation) so the UNet and CLIP forwards can be
/// checked against the fixtures independently of the real CPU backend.
/// </summary>
public sealed class NaiveOps : IOps
{
    private sealed class T : DeviceTensor
    {
        public readonly float[] Data;
        public T(int[] shape, float[] data) : base(shape) { Data = data; }
        public override void Dispose() { }
    }

    public string Name => "naive";
    public void Dispose() { }

    private static float[] D(DeviceTensor x) => ((T)x).Data;
    private static T New(int[] shape) => new(shape, new float[ShapeUtil.Product(shape)]);

    public DeviceTensor Upload(HostTensor t) => new T(t.Shape, (float[])t.Data.Clone());
    public HostTensor Download(DeviceTensor t) => new(t.Shape, (float[])D(t).Clone());
    public DeviceTensor Reshape(DeviceTensor x, params int[] shape)
    {
        if (ShapeUtil.Product(shape) != x.Count) throw new ArgumentException("reshape count");
        return new T(shape, D(x));
    }

    public DeviceTensor Conv2d(DeviceTensor x, HostTensor w, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual = null)
    {
        int n = x.Dim(0), h = x.Dim(1), wd = x.Dim(2), c = x.Dim(3);
        int o = w.Dim(0), kh = w.Dim(2), kw = w.Dim(3);
        if (w.Dim(1) != c) throw new ArgumentException("conv channels");
        int oh = (h + pad.Top + pad.Bottom - kh) / stride + 1, ow = (wd + pad.Left + pad.Right - kw) / stride + 1;
        var y = New([n, oh, ow, o]);
        var xd = D(x); var wdt = w.Data; var yd = y.Data;
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int oc = 0; oc < o; oc++)
                    {
                        double s = bias?.Data[oc] ?? 0;
                        for (int ky = 0; ky < kh; ky++)
                        {
                            int iy = oy * stride - pad.Top + ky;
                            if (iy < 0 || iy >= h) continue;
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int ix = ox * stride - pad.Left + kx;
                                if (ix < 0 || ix >= wd) continue;
                                long xb = (((long)b * h + iy) * wd + ix) * c;
                                for (int ic = 0; ic < c; ic++)
                                    s += (double)xd[xb + ic] * wdt[((oc * c + ic) * kh + ky) * kw + kx];
                            }
                        }
                        long yi = (((long)b * oh + oy) * ow + ox) * o + oc;
                        yd[yi] = (float)s + (residual != null ? D(residual)[yi] : 0f);
                    }
        return y;
    }

    public DeviceTensor Linear(DeviceTensor x, HostTensor w, HostTensor? bias, DeviceTensor? residual = null)
    {
        int inF = w.Dim(1), outF = w.Dim(0);
        if (x.Dim(-1) != inF) throw new ArgumentException("linear features");
        long rows = x.Count / inF;
        var shape = (int[])x.Shape.Clone(); shape[^1] = outF;
        var y = New(shape);
        var xd = D(x);
        for (long r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = bias?.Data[o] ?? 0;
                for (int i = 0; i < inF; i++) s += (double)xd[r * inF + i] * w.Data[o * inF + i];
                y.Data[r * outF + o] = (float)s + (residual != null ? D(residual)[r * outF + o] : 0f);
            }
        return y;
    }

    public float[] GroupNormStats(DeviceTensor x, int groups)
    {
        int n = x.Dim(0), c = x.Dim(-1), cg = c / groups;
        long pos = x.Count / n / c;
        var xd = D(x);
        var r = new float[n * groups * 2];
        for (int b = 0; b < n; b++)
            for (int g = 0; g < groups; g++)
            {
                double s = 0, s2 = 0;
                for (long p = 0; p < pos; p++)
                    for (int k = 0; k < cg; k++) { double v = xd[(b * pos + p) * c + g * cg + k]; s += v; s2 += v * v; }
                double cnt = pos * cg, mean = s / cnt;
                double var_ = 0;
                for (long p = 0; p < pos; p++)
                    for (int k = 0; k < cg; k++) { double v = xd[(b * pos + p) * c + g * cg + k] - mean; var_ += v * v; }
                r[(b * groups + g) * 2] = (float)mean;
                r[(b * groups + g) * 2 + 1] = (float)(var_ / cnt);
            }
        return r;
    }

    public DeviceTensor GroupNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu) =>
        GroupNormApply(x, GroupNormStats(x, groups), gamma, beta, groups, eps, silu);

    public DeviceTensor GroupNormApply(DeviceTensor x, float[] mv, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        int n = x.Dim(0), c = x.Dim(-1), cg = c / groups;
        long pos = x.Count / n / c;
        var y = New(x.Shape); var xd = D(x);
        for (int b = 0; b < n; b++)
            for (long p = 0; p < pos; p++)
                for (int ch = 0; ch < c; ch++)
                {
                    int g = ch / cg;
                    double mean = mv[(b * groups + g) * 2], var_ = mv[(b * groups + g) * 2 + 1];
                    long i = (b * pos + p) * c + ch;
                    double v = (xd[i] - mean) / Math.Sqrt(var_ + eps) * gamma.Data[ch] + beta.Data[ch];
                    y.Data[i] = (float)(silu ? v / (1 + Math.Exp(-v)) : v);
                }
        return y;
    }

    public DeviceTensor LayerNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, float eps)
    {
        int c = x.Dim(-1); long rows = x.Count / c;
        var y = New(x.Shape); var xd = D(x);
        for (long r = 0; r < rows; r++)
        {
            double s = 0;
            for (int i = 0; i < c; i++) s += xd[r * c + i];
            double mean = s / c, v = 0;
            for (int i = 0; i < c; i++) { double d = xd[r * c + i] - mean; v += d * d; }
            double inv = 1 / Math.Sqrt(v / c + eps);
            for (int i = 0; i < c; i++) y.Data[r * c + i] = (float)((xd[r * c + i] - mean) * inv * gamma.Data[i] + beta.Data[i]);
        }
        return y;
    }

    public DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int heads, bool causal)
    {
        int b = q.Dim(0), lq = q.Dim(1), lk = k.Dim(1), hd = q.Dim(2), dh = hd / heads;
        if (k.Dim(0) != b || v.Dim(0) != b || k.Dim(2) != hd || v.Dim(2) != hd) throw new ArgumentException("attention shapes");
        var y = New([b, lq, hd]);
        var qd = D(q); var kd = D(k); var vd = D(v);
        double scale = 1 / Math.Sqrt(dh);
        var sc = new double[lk];
        for (int bb = 0; bb < b; bb++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++)
                {
                    double max = double.NegativeInfinity;
                    int lim = causal ? Math.Min(i + 1, lk) : lk;
                    for (int j = 0; j < lim; j++)
                    {
                        double s = 0;
                        for (int d = 0; d < dh; d++) s += (double)qd[((long)bb * lq + i) * hd + h * dh + d] * kd[((long)bb * lk + j) * hd + h * dh + d];
                        sc[j] = s * scale; max = Math.Max(max, sc[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < lim; j++) { sc[j] = Math.Exp(sc[j] - max); sum += sc[j]; }
                    for (int d = 0; d < dh; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < lim; j++) acc += sc[j] * vd[((long)bb * lk + j) * hd + h * dh + d];
                        y.Data[((long)bb * lq + i) * hd + h * dh + d] = (float)(acc / sum);
                    }
                }
        return y;
    }

    private DeviceTensor Map(DeviceTensor x, Func<double, double> f)
    {
        var y = New(x.Shape); var xd = D(x);
        for (long i = 0; i < xd.LongLength; i++) y.Data[i] = (float)f(xd[i]);
        return y;
    }

    public DeviceTensor Silu(DeviceTensor x) => Map(x, v => v / (1 + Math.Exp(-v)));
    public DeviceTensor Gelu(DeviceTensor x) => Map(x, GeluD);
    private static double GeluD(double v) => 0.5 * v * (1 + Erf(v / Math.Sqrt(2)));

    /// <summary>erf by its Taylor series (|x| < 5, ample double precision here) and ±1 beyond.</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax >= 5) return Math.Sign(x);
        double term = ax, sum = ax, x2 = ax * ax;
        for (int n = 1; n < 200; n++)
        {
            term *= -x2 / n;
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
        }
        return Math.Sign(x) * sum * 2 / Math.Sqrt(Math.PI);
    }

    public DeviceTensor Geglu(DeviceTensor x)
    {
        int f2 = x.Dim(-1), f = f2 / 2; long rows = x.Count / f2;
        var shape = (int[])x.Shape.Clone(); shape[^1] = f;
        var y = New(shape); var xd = D(x);
        for (long r = 0; r < rows; r++)
            for (int i = 0; i < f; i++)
                y.Data[r * f + i] = (float)(xd[r * f2 + i] * GeluD(xd[r * f2 + f + i]));
        return y;
    }

    public DeviceTensor Axpby(DeviceTensor a, DeviceTensor b, float alpha, float beta)
    {
        var y = New(a.Shape); var ad = D(a); var bd = D(b);
        for (long i = 0; i < ad.LongLength; i++) y.Data[i] = alpha * ad[i] + beta * bd[i];
        return y;
    }

    public DeviceTensor ScaleShift(DeviceTensor x, float scale, float shift) => Map(x, v => (float)v * scale + shift);
    public DeviceTensor Clamp(DeviceTensor x, float lo, float hi) => Map(x, v => Math.Clamp(v, lo, hi));
    public long CountNonFinite(DeviceTensor x) => D(x).Count(v => !float.IsFinite(v));

    public DeviceTensor AddChannelVector(DeviceTensor x, DeviceTensor v)
    {
        int n = x.Dim(0), c = x.Dim(-1); long per = x.Count / n;
        var y = New(x.Shape); var xd = D(x); var vd = D(v);
        for (int b = 0; b < n; b++)
            for (long i = 0; i < per; i++)
                y.Data[b * per + i] = xd[b * per + i] + vd[(v.Dim(0) == 1 ? 0 : b) * c + (int)(i % c)];
        return y;
    }

    public DeviceTensor UpsampleNearest2x(DeviceTensor x)
    {
        int n = x.Dim(0), h = x.Dim(1), w = x.Dim(2), c = x.Dim(3);
        var y = New([n, 2 * h, 2 * w, c]); var xd = D(x);
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < 2 * h; oy++)
                for (int ox = 0; ox < 2 * w; ox++)
                    Array.Copy(xd, (((long)b * h + oy / 2) * w + ox / 2) * c, y.Data, (((long)b * 2 * h + oy) * 2 * w + ox) * c, c);
        return y;
    }

    public DeviceTensor ConcatChannels(DeviceTensor a, DeviceTensor b)
    {
        int ca = a.Dim(-1), cb = b.Dim(-1); long rows = a.Count / ca;
        if (b.Count / cb != rows) throw new ArgumentException("concat shapes");
        var shape = (int[])a.Shape.Clone(); shape[^1] = ca + cb;
        var y = New(shape);
        for (long r = 0; r < rows; r++)
        {
            Array.Copy(D(a), r * ca, y.Data, r * (ca + cb), ca);
            Array.Copy(D(b), r * cb, y.Data, r * (ca + cb) + ca, cb);
        }
        return y;
    }

    public DeviceTensor SliceChannels(DeviceTensor x, int start, int count)
    {
        int c = x.Dim(-1); long rows = x.Count / c;
        var shape = (int[])x.Shape.Clone(); shape[^1] = count;
        var y = New(shape);
        for (long r = 0; r < rows; r++) Array.Copy(D(x), r * c + start, y.Data, r * count, count);
        return y;
    }

    public DeviceTensor CropSpatial(DeviceTensor x, int y0, int y1, int x0, int x1)
    {
        int n = x.Dim(0), h = x.Dim(1), w = x.Dim(2), c = x.Dim(3);
        var y = New([n, y1 - y0, x1 - x0, c]);
        for (int b = 0; b < n; b++)
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++)
                    Array.Copy(D(x), (((long)b * h + yy) * w + xx) * c, y.Data, (((long)b * (y1 - y0) + yy - y0) * (x1 - x0) + xx - x0) * c, c);
        return y;
    }
}
