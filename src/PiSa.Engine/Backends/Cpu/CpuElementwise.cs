namespace PiSa.Engine.Backends.Cpu;

/// <summary>Activations and elementwise arithmetic, chunked over the cores. Transcendentals use float64.</summary>
internal static class CpuElementwise
{
    private const double InvSqrt2 = 0.7071067811865476;

    public static float Silu(float x) => (float)(x / (1.0 + Math.Exp(-(double)x)));

    /// <summary>x * Phi(x) with Phi written through erfc so that the negative tail keeps its relative accuracy.</summary>
    public static float Gelu(float x)
    {
        double d = x;
        return (float)(0.5 * d * ErfMath.Erfc(-d * InvSqrt2));
    }

    public static void SiluInPlace(Span<float> s)
    {
        for (int i = 0; i < s.Length; i++) s[i] = Silu(s[i]);
    }

    public static CpuTensor Map(CpuTensor x, Func<float, float> f)
    {
        var y = new CpuTensor(x.Shape);
        var src = x.Data;
        var dst = y.Data;
        CpuRows.For(src.Length, 4096, (i0, i1) =>
        {
            for (long i = i0; i < i1; i++) dst[i] = f(src[i]);
        });
        return y;
    }

    public static CpuTensor Silu(CpuTensor x) => Map(x, Silu);
    public static CpuTensor Gelu(CpuTensor x) => Map(x, Gelu);
    public static CpuTensor ScaleShift(CpuTensor x, float scale, float shift) => Map(x, v => v * scale + shift);
    public static CpuTensor Clamp(CpuTensor x, float lo, float hi) => Map(x, v => Math.Clamp(v, lo, hi));

    public static CpuTensor Geglu(CpuTensor x)
    {
        int two = x.Shape[^1];
        if (two % 2 != 0) throw new PisaException($"Geglu: last dimension of [{Tensors.ShapeUtil.Format(x.Shape)}] is odd");
        int f = two / 2;
        var shape = (int[])x.Shape.Clone();
        shape[^1] = f;
        var y = new CpuTensor(shape);
        var src = x.Data;
        var dst = y.Data;
        long rows = f == 0 ? 0 : y.Count / f;
        CpuRows.For(rows, 16, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long s = r * two, d = r * f;
                for (int j = 0; j < f; j++) dst[d + j] = src[s + j] * Gelu(src[s + f + j]);
            }
        });
        return y;
    }

    public static CpuTensor Axpby(CpuTensor a, CpuTensor b, float alpha, float beta)
    {
        if (!Tensors.ShapeUtil.Equal(a.Shape, b.Shape))
            throw new PisaException($"Axpby: shapes [{Tensors.ShapeUtil.Format(a.Shape)}] and [{Tensors.ShapeUtil.Format(b.Shape)}] differ");
        var y = new CpuTensor(a.Shape);
        var sa = a.Data;
        var sb = b.Data;
        var dst = y.Data;
        CpuRows.For(dst.Length, 4096, (i0, i1) =>
        {
            for (long i = i0; i < i1; i++) dst[i] = alpha * sa[i] + beta * sb[i];
        });
        return y;
    }

    public static CpuTensor AddChannelVector(CpuTensor x, CpuTensor v)
    {
        int n = x.Shape[0], c = x.Shape[^1];
        bool ok = x.Rank >= 2 && v.Rank == 2 && v.Shape[1] == c && (v.Shape[0] == n || v.Shape[0] == 1);
        if (!ok)
            throw new PisaException($"AddChannelVector: vector [{Tensors.ShapeUtil.Format(v.Shape)}] does not fit [{Tensors.ShapeUtil.Format(x.Shape)}] (expected [N, C] or [1, C])");
        var y = new CpuTensor(x.Shape);
        long rows = c == 0 ? 0 : x.Count / c;
        long rowsPerBatch = n == 0 ? 0 : rows / n;
        var src = x.Data;
        var vec = v.Data;
        var dst = y.Data;
        bool perBatch = v.Shape[0] == n && n > 1;
        CpuRows.For(rows, 64, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                int b = perBatch ? (int)(r / rowsPerBatch) : 0;
                System.Numerics.Tensors.TensorPrimitives.Add(src.AsSpan((int)(r * c), c), vec.AsSpan(b * c, c), dst.AsSpan((int)(r * c), c));
            }
        });
        return y;
    }
}
