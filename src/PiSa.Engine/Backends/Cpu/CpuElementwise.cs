namespace PiSa.Engine.Backends.Cpu;

/// <summary>Activations and elementwise arithmetic, chunked over the cores. Transcendentals use float64: the scalar
/// definitions here are the reference, <see cref="VecMath"/> evaluates them four lanes at a time.</summary>
public static class CpuElementwise
{
    private const double InvSqrt2 = 0.7071067811865476;

    public static float Silu(float x) => (float)(x / (1.0 + Math.Exp(-(double)x)));

    /// <summary>x * Phi(x) with Phi written through erfc so that the negative tail keeps its relative accuracy.</summary>
    public static float Gelu(float x)
    {
        double d = x;
        return (float)(0.5 * d * ErfMath.Erfc(-d * InvSqrt2));
    }

    public static void SiluInPlace(Span<float> s) => VecMath.Silu(s, s);

    /// <summary>y = f(x) over spans, chunked over the cores (f writes every element of its destination).</summary>
    private delegate void SpanMap(ReadOnlySpan<float> src, Span<float> dst);

    private static CpuTensor MapSpans(CpuTensor x, SpanMap f)
    {
        var y = CpuTensor.Rent(x.Shape);
        var src = x.Data;
        var dst = y.Data;
        CpuRows.For(src.Length, 1 << 14, (i0, i1) => f(src.AsSpan((int)i0, (int)(i1 - i0)), dst.AsSpan((int)i0, (int)(i1 - i0))));
        return y;
    }

    public static CpuTensor Map(CpuTensor x, Func<float, float> f)
    {
        var y = CpuTensor.Rent(x.Shape);
        var src = x.Data;
        var dst = y.Data;
        CpuRows.For(src.Length, 4096, (i0, i1) =>
        {
            for (long i = i0; i < i1; i++) dst[i] = f(src[i]);
        });
        return y;
    }

    public static CpuTensor Silu(CpuTensor x) => MapSpans(x, VecMath.Silu);
    public static CpuTensor Gelu(CpuTensor x) => MapSpans(x, VecMath.Gelu);
    // Two roundings (product, then sum): the same float32 result as v * scale + shift.
    public static CpuTensor ScaleShift(CpuTensor x, float scale, float shift) => MapSpans(x, (s, d) =>
    {
        System.Numerics.Tensors.TensorPrimitives.Multiply(s, scale, d);
        System.Numerics.Tensors.TensorPrimitives.Add(d, shift, d);
    });
    public static CpuTensor Clamp(CpuTensor x, float lo, float hi) => Map(x, v => Math.Clamp(v, lo, hi));

    public static CpuTensor Geglu(CpuTensor x)
    {
        int two = x.Shape[^1];
        if (two % 2 != 0) throw new PisaException($"Geglu: last dimension of [{Tensors.ShapeUtil.Format(x.Shape)}] is odd");
        int f = two / 2;
        var shape = (int[])x.Shape.Clone();
        shape[^1] = f;
        var y = CpuTensor.Rent(shape);
        var src = x.Data;
        var dst = y.Data;
        long rows = f == 0 ? 0 : y.Count / f;
        CpuRows.For(rows, 16, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long s = r * two, d = r * f;
                VecMath.Geglu(src.AsSpan((int)s, f), src.AsSpan((int)(s + f), f), dst.AsSpan((int)d, f));
            }
        });
        return y;
    }

    public static CpuTensor Axpby(CpuTensor a, CpuTensor b, float alpha, float beta)
    {
        if (!Tensors.ShapeUtil.Equal(a.Shape, b.Shape))
            throw new PisaException($"Axpby: shapes [{Tensors.ShapeUtil.Format(a.Shape)}] and [{Tensors.ShapeUtil.Format(b.Shape)}] differ");
        var y = CpuTensor.Rent(a.Shape);
        var sa = a.Data;
        var sb = b.Data;
        var dst = y.Data;
        CpuRows.For(dst.Length, 1 << 14, (i0, i1) =>
        {
            int i = (int)i0, len = (int)(i1 - i0);
            var d = dst.AsSpan(i, len);
            // alpha * a + beta * b, each product and the sum rounded to float32 as in the scalar expression.
            System.Numerics.Tensors.TensorPrimitives.Multiply(sa.AsSpan(i, len), alpha, d);
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(sb.AsSpan(i, len), beta, d, d);
        });
        return y;
    }

    public static CpuTensor AddChannelVector(CpuTensor x, CpuTensor v)
    {
        int n = x.Shape[0], c = x.Shape[^1];
        bool ok = x.Rank >= 2 && v.Rank == 2 && v.Shape[1] == c && (v.Shape[0] == n || v.Shape[0] == 1);
        if (!ok)
            throw new PisaException($"AddChannelVector: vector [{Tensors.ShapeUtil.Format(v.Shape)}] does not fit [{Tensors.ShapeUtil.Format(x.Shape)}] (expected [N, C] or [1, C])");
        var y = CpuTensor.Rent(x.Shape);
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
