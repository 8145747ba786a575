using System.Numerics;
using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Models.Vae;

/// <summary>
/// A deliberately plain, test-only IOps with just the operations the VAE uses, written straight from the
/// definitions (float32 storage, double accumulation for norms). It is an independent reference for the
/// VAE code and lets the VAE tests run without any real backend.
/// </summary>
public sealed class NaiveVaeOps : IOps
{
    public sealed class T(int[] shape, float[] data) : DeviceTensor(shape)
    {
        public float[] Data { get; } = data;
        public override void Dispose() { }
    }

    private static T D(DeviceTensor x) => (T)x;
    private static T New(params int[] shape) => new(shape, new float[ShapeUtil.Product(shape)]);

    public string Name => "naive";
    public void Dispose() { }

    public DeviceTensor Upload(HostTensor t) => new T(t.Shape, (float[])t.Data.Clone());
    public HostTensor Download(DeviceTensor t) => new(t.Shape, (float[])D(t).Data.Clone());
    public DeviceTensor Reshape(DeviceTensor x, params int[] shape)
    {
        if (ShapeUtil.Product(shape) != x.Count) throw new ArgumentException("reshape count");
        return new T(shape, D(x).Data);
    }

    private readonly Dictionary<HostTensor, float[]> _packed = new(ReferenceEqualityComparer.Instance);

    public DeviceTensor Conv2d(DeviceTensor xd, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual = null)
    {
        var x = D(xd);
        int n = x.Dim(0), h = x.Dim(1), w = x.Dim(2), ci = x.Dim(3);
        int co = weight.Dim(0), kh = weight.Dim(2), kw = weight.Dim(3);
        if (weight.Dim(1) != ci) throw new ArgumentException($"conv: input has {ci} channels, weight [{ShapeUtil.Format(weight.Shape)}]");
        int oh = (h + pad.Top + pad.Bottom - kh) / stride + 1, ow = (w + pad.Left + pad.Right - kw) / stride + 1;
        // Pack [co, ci, ky, kx] -> [ky, kx, ci, co] once so the inner loop runs over output channels.
        if (!_packed.TryGetValue(weight, out var pw))
        {
            pw = new float[weight.Count];
            for (int o = 0; o < co; o++)
                for (int i = 0; i < ci; i++)
                    for (int a = 0; a < kh; a++)
                        for (int b = 0; b < kw; b++)
                            pw[((a * kw + b) * ci + i) * co + o] = weight.Data[((o * ci + i) * kh + a) * kw + b];
            _packed[weight] = pw;
        }
        var y = New(n, oh, ow, co);
        var xs = x.Data;
        var res = residual != null ? D(residual).Data : null;
        // Rows in parallel; per output pixel the accumulator runs over output channels (vectorised when
        // the channel count is a multiple of the vector width).
        Parallel.For(0, n * oh, row =>
        {
            int b = row / oh, oy = row % oh;
            var acc = new float[co];
            bool vec = co % Vector<float>.Count == 0;
            for (int ox = 0; ox < ow; ox++)
            {
                if (bias != null) Array.Copy(bias.Data, acc, co); else Array.Clear(acc);
                var accV = System.Runtime.InteropServices.MemoryMarshal.Cast<float, Vector<float>>(acc.AsSpan());
                for (int a = 0; a < kh; a++)
                {
                    int iy = oy * stride - pad.Top + a;
                    if (iy < 0 || iy >= h) continue;
                    for (int kb = 0; kb < kw; kb++)
                    {
                        int ix = ox * stride - pad.Left + kb;
                        if (ix < 0 || ix >= w) continue;
                        int xo = ((b * h + iy) * w + ix) * ci;
                        int wo = (a * kw + kb) * ci * co;
                        for (int i = 0; i < ci; i++)
                        {
                            float xv = xs[xo + i];
                            int wr = wo + i * co;
                            if (vec)
                            {
                                var wv = System.Runtime.InteropServices.MemoryMarshal.Cast<float, Vector<float>>(pw.AsSpan(wr, co));
                                var xvv = new Vector<float>(xv);
                                for (int o = 0; o < accV.Length; o++) accV[o] += xvv * wv[o];
                            }
                            else
                                for (int o = 0; o < co; o++) acc[o] += xv * pw[wr + o];
                        }
                    }
                }
                int yo = ((b * oh + oy) * ow + ox) * co;
                for (int o = 0; o < co; o++) y.Data[yo + o] = acc[o] + (res != null ? res[yo + o] : 0f);
            }
        });
        return y;
    }

    public DeviceTensor Linear(DeviceTensor xd, HostTensor weight, HostTensor? bias, DeviceTensor? residual = null)
    {
        var x = D(xd);
        int fin = weight.Dim(1), fout = weight.Dim(0);
        int rows = (int)(x.Count / fin);
        var shape = (int[])x.Shape.Clone();
        shape[^1] = fout;
        var y = New(shape);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < fout; o++)
            {
                double s = bias?.Data[o] ?? 0;
                for (int i = 0; i < fin; i++) s += (double)x.Data[r * fin + i] * weight.Data[o * fin + i];
                y.Data[r * fout + o] = (float)s + (residual != null ? D(residual).Data[r * fout + o] : 0f);
            }
        return y;
    }

    public float[] GroupNormStats(DeviceTensor xd, int groups)
    {
        var x = D(xd);
        int n = x.Dim(0), c = x.Dim(-1);
        int per = (int)(x.Count / n / c), cg = c / groups;
        var r = new float[n * groups * 2];
        for (int b = 0; b < n; b++)
            for (int g = 0; g < groups; g++)
            {
                double s = 0, s2 = 0;
                for (int p = 0; p < per; p++)
                    for (int k = 0; k < cg; k++)
                    {
                        double v = x.Data[((long)b * per + p) * c + g * cg + k];
                        s += v; s2 += v * v;
                    }
                double cnt = (double)per * cg, mean = s / cnt;
                r[(b * groups + g) * 2] = (float)mean;
                r[(b * groups + g) * 2 + 1] = (float)Math.Max(0, s2 / cnt - mean * mean);
            }
        return r;
    }

    public DeviceTensor GroupNormApply(DeviceTensor xd, float[] meanVar, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        var x = D(xd);
        int n = x.Dim(0), c = x.Dim(-1);
        int per = (int)(x.Count / n / c), cg = c / groups;
        var y = New(x.Shape);
        for (int b = 0; b < n; b++)
            for (int p = 0; p < per; p++)
                for (int ch = 0; ch < c; ch++)
                {
                    int g = ch / cg;
                    float mean = meanVar[(b * groups + g) * 2], var = meanVar[(b * groups + g) * 2 + 1];
                    long idx = ((long)b * per + p) * c + ch;
                    float v = (float)((x.Data[idx] - mean) / Math.Sqrt(var + eps)) * gamma.Data[ch] + beta.Data[ch];
                    y.Data[idx] = silu ? v / (1 + MathF.Exp(-v)) : v;
                }
        return y;
    }

    public DeviceTensor GroupNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu) =>
        GroupNormApply(x, GroupNormStats(x, groups), gamma, beta, groups, eps, silu);

    public DeviceTensor Attention(DeviceTensor qd, DeviceTensor kd, DeviceTensor vd, int heads, bool causal)
    {
        var q = D(qd); var k = D(kd); var v = D(vd);
        int bsz = q.Dim(0), lq = q.Dim(1), lk = k.Dim(1), hd = q.Dim(2), d = hd / heads;
        var y = New(bsz, lq, hd);
        double scale = 1 / Math.Sqrt(d);
        var sc = new double[lk];
        for (int b = 0; b < bsz; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++)
                {
                    double mx = double.NegativeInfinity;
                    for (int j = 0; j < lk; j++)
                    {
                        double s = 0;
                        for (int e = 0; e < d; e++) s += (double)q.Data[(b * lq + i) * hd + h * d + e] * k.Data[(b * lk + j) * hd + h * d + e];
                        sc[j] = (causal && j > i) ? double.NegativeInfinity : s * scale;
                        mx = Math.Max(mx, sc[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < lk; j++) { sc[j] = Math.Exp(sc[j] - mx); z += sc[j]; }
                    for (int e = 0; e < d; e++)
                    {
                        double s = 0;
                        for (int j = 0; j < lk; j++) s += sc[j] * v.Data[(b * lk + j) * hd + h * d + e];
                        y.Data[(b * lq + i) * hd + h * d + e] = (float)(s / z);
                    }
                }
        return y;
    }

    public DeviceTensor UpsampleNearest2x(DeviceTensor xd)
    {
        var x = D(xd);
        int n = x.Dim(0), h = x.Dim(1), w = x.Dim(2), c = x.Dim(3);
        var y = New(n, 2 * h, 2 * w, c);
        for (int b = 0; b < n; b++)
            for (int yy = 0; yy < 2 * h; yy++)
                for (int xx = 0; xx < 2 * w; xx++)
                    Array.Copy(x.Data, ((b * h + yy / 2) * w + xx / 2) * c, y.Data, ((b * 2 * h + yy) * 2 * w + xx) * c, c);
        return y;
    }

    public DeviceTensor CropSpatial(DeviceTensor xd, int y0, int y1, int x0, int x1)
    {
        var x = D(xd);
        int n = x.Dim(0), h = x.Dim(1), w = x.Dim(2), c = x.Dim(3);
        if (y0 < 0 || x0 < 0 || y1 > h || x1 > w || y1 <= y0 || x1 <= x0) throw new ArgumentException($"crop [{y0},{y1})x[{x0},{x1}) of {h}x{w}");
        var y = New(n, y1 - y0, x1 - x0, c);
        for (int b = 0; b < n; b++)
            for (int r = y0; r < y1; r++)
                Array.Copy(x.Data, ((b * h + r) * w + x0) * c, y.Data, ((b * (y1 - y0) + r - y0) * (x1 - x0)) * c, (x1 - x0) * c);
        return y;
    }

    public DeviceTensor Silu(DeviceTensor xd)
    {
        var x = D(xd);
        var y = New(x.Shape);
        for (int i = 0; i < y.Data.Length; i++) y.Data[i] = x.Data[i] / (1 + MathF.Exp(-x.Data[i]));
        return y;
    }

    public long CountNonFinite(DeviceTensor x) => D(x).Data.Count(v => !float.IsFinite(v));

    public DeviceTensor Clamp(DeviceTensor xd, float lo, float hi)
    {
        var x = D(xd);
        var y = New(x.Shape);
        for (int i = 0; i < y.Data.Length; i++) y.Data[i] = Math.Clamp(x.Data[i], lo, hi);
        return y;
    }

    public DeviceTensor ScaleShift(DeviceTensor xd, float scale, float shift)
    {
        var x = D(xd);
        var y = New(x.Shape);
        for (int i = 0; i < y.Data.Length; i++) y.Data[i] = x.Data[i] * scale + shift;
        return y;
    }

    public DeviceTensor LayerNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, float eps) => throw new NotSupportedException();
    public DeviceTensor Gelu(DeviceTensor x) => throw new NotSupportedException();
    public DeviceTensor Geglu(DeviceTensor x) => throw new NotSupportedException();
    public DeviceTensor Axpby(DeviceTensor a, DeviceTensor b, float alpha, float beta) => throw new NotSupportedException();
    public DeviceTensor AddChannelVector(DeviceTensor x, DeviceTensor v) => throw new NotSupportedException();
    public DeviceTensor ConcatChannels(DeviceTensor a, DeviceTensor b) => throw new NotSupportedException();
    /// <summary>Plain channel copy: the default IOps.AttentionWindows slices the fused QKV projection with it.</summary>
    public DeviceTensor SliceChannels(DeviceTensor xd, int start, int count)
    {
        var x = D(xd);
        int c = x.Shape[^1];
        long rows = x.Count / c;
        var shape = (int[])x.Shape.Clone();
        shape[^1] = count;
        var y = New(shape);
        for (long r = 0; r < rows; r++)
            for (int i = 0; i < count; i++) y.Data[r * count + i] = x.Data[r * c + start + i];
        return y;
    }
}
