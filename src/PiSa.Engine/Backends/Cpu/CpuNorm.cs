using System.Runtime.Intrinsics;

namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// GroupNorm and LayerNorm as PyTorch computes them: biased variance, eps inside the square root,
/// then y = x * (rstd*gamma) + (beta - mean*rstd*gamma). Statistics are accumulated in float64
/// (shifted by the group's first element, so a large mean cannot cancel the variance away).
/// </summary>
internal static class CpuNorm
{
    /// <summary>(mean, biased variance) per (batch, group) over every non-batch position of x [N, ..., C].</summary>
    public static float[] GroupStats(CpuTensor x, int groups)
    {
        var (n, positions, c) = GroupDims(x, groups, "GroupNormStats");
        int cpg = c / groups;
        var data = x.Data;
        // Chunking depends only on the shape (not on scheduling or core count), so the sums and
        // therefore the statistics are the same bits on every machine.
        int chunks = (int)Math.Clamp(positions / 256, 1, 64);
        var sum = new double[n * chunks * groups];
        var sq = new double[n * chunks * groups];
        var shift = new float[n * groups];
        for (int b = 0; b < n; b++)
            for (int g = 0; g < groups; g++)
                shift[b * groups + g] = data[(long)b * positions * c + g * cpg];

        Parallel.For(0, n * chunks, t =>
        {
            int b = t / chunks, ch = t % chunks;
            long p0 = positions * ch / chunks, p1 = positions * (ch + 1) / chunks;
            // Per-channel sums over this chunk's positions (vectorised across channels), then per group: the order
            // of every addition is fixed by the shape alone.
            var chShift = new double[c];
            for (int j = 0; j < c; j++) chShift[j] = shift[b * groups + j / cpg];
            var cs = new double[c];
            var cq = new double[c];
            ChannelSums(data, ((long)b * positions + p0) * c, p1 - p0, c, chShift, cs, cq);
            for (int g = 0; g < groups; g++)
            {
                double sg = 0, qg = 0;
                for (int j = g * cpg; j < (g + 1) * cpg; j++) { sg += cs[j]; qg += cq[j]; }
                sum[t * groups + g] = sg;
                sq[t * groups + g] = qg;
            }
        });

        var result = new float[n * groups * 2];
        double count = (double)positions * cpg;
        for (int b = 0; b < n; b++)
            for (int g = 0; g < groups; g++)
            {
                double s = 0, q = 0;
                for (int ch = 0; ch < chunks; ch++)
                {
                    s += sum[(b * chunks + ch) * groups + g];
                    q += sq[(b * chunks + ch) * groups + g];
                }
                double meanShifted = s / count;
                double variance = Math.Max(0, q / count - meanShifted * meanShifted);
                result[(b * groups + g) * 2] = (float)(shift[b * groups + g] + meanShifted);
                result[(b * groups + g) * 2 + 1] = (float)variance;
            }
        return result;
    }

    /// <summary>For each channel j, cs[j] += sum (x - shift[j]) and cq[j] += sum (x - shift[j])^2 over `rows` rows of
    /// c floats from data[from], in float64: four channels per vector, rows in order.</summary>
    private static void ChannelSums(float[] data, long from, long rows, int c, double[] shift, double[] cs, double[] cq)
    {
        int vec = Vector256.IsHardwareAccelerated ? c / 8 * 8 : 0;
        var src = data.AsSpan();
        for (long r = 0; r < rows; r++)
        {
            var row = src.Slice((int)(from + r * c), c);
            for (int j = 0; j < vec; j += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(row.Slice(j, 8)));
                var dLo = lo - Vector256.Create(shift.AsSpan(j, 4));
                var dHi = hi - Vector256.Create(shift.AsSpan(j + 4, 4));
                (Vector256.Create(cs.AsSpan(j, 4)) + dLo).CopyTo(cs.AsSpan(j, 4));
                (Vector256.Create(cs.AsSpan(j + 4, 4)) + dHi).CopyTo(cs.AsSpan(j + 4, 4));
                (Vector256.Create(cq.AsSpan(j, 4)) + dLo * dLo).CopyTo(cq.AsSpan(j, 4));
                (Vector256.Create(cq.AsSpan(j + 4, 4)) + dHi * dHi).CopyTo(cq.AsSpan(j + 4, 4));
            }
            for (int j = vec; j < c; j++)
            {
                double d = row[j] - shift[j];
                cs[j] += d;
                cq[j] += d * d;
            }
        }
    }

    public static CpuTensor GroupApply(CpuTensor x, float[] meanVar, float[] gamma, float[] beta, int groups, float eps, bool silu)
    {
        var (n, positions, c) = GroupDims(x, groups, "GroupNormApply");
        int cpg = c / groups;
        if (meanVar.Length != n * groups * 2)
            throw new PisaException($"GroupNormApply: {meanVar.Length} statistics given, expected {n * groups * 2} for [{Tensors.ShapeUtil.Format(x.Shape)}] and {groups} groups");
        CheckVector(gamma, c, "GroupNorm gamma");
        CheckVector(beta, c, "GroupNorm beta");
        var scale = new float[n * c];
        var offset = new float[n * c];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
            {
                int g = ch / cpg;
                double mean = meanVar[(b * groups + g) * 2], variance = meanVar[(b * groups + g) * 2 + 1];
                double rstd = 1.0 / Math.Sqrt(variance + eps);
                double sc = rstd * gamma[ch];
                scale[b * c + ch] = (float)sc;
                offset[b * c + ch] = (float)(beta[ch] - mean * sc);
            }
        var y = CpuTensor.Rent(x.Shape);
        var src = x.Data;
        var dst = y.Data;
        CpuRows.For((long)n * positions, 64, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                int b = (int)(r / positions);
                var xs = src.AsSpan((int)(r * c), c);
                var ys = dst.AsSpan((int)(r * c), c);
                var sc = scale.AsSpan(b * c, c);
                var of = offset.AsSpan(b * c, c);
                // Not fused: x * scale rounded, then + offset, as the scalar expression x * sc + of.
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(xs, sc, of, ys);
                if (silu) CpuElementwise.SiluInPlace(ys);
            }
        });
        return y;
    }

    public static CpuTensor LayerNorm(CpuTensor x, float[] gamma, float[] beta, float eps)
    {
        int c = x.Shape[^1];
        CheckVector(gamma, c, "LayerNorm gamma");
        CheckVector(beta, c, "LayerNorm beta");
        var y = CpuTensor.Rent(x.Shape);
        var src = x.Data;
        var dst = y.Data;
        long rows = c == 0 ? 0 : x.Count / c;
        CpuRows.For(rows, 16, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                var xs = src.AsSpan((int)(r * c), c);
                var ys = dst.AsSpan((int)(r * c), c);
                double mean = 0;
                for (int i = 0; i < c; i++) mean += xs[i];
                mean /= c;
                double variance = 0;
                for (int i = 0; i < c; i++) { double d = xs[i] - mean; variance += d * d; }
                variance /= c;
                double rstd = 1.0 / Math.Sqrt(variance + eps);
                for (int i = 0; i < c; i++) ys[i] = (float)((xs[i] - mean) * rstd * gamma[i] + beta[i]);
            }
        });
        return y;
    }

    private static (int N, long Positions, int C) GroupDims(CpuTensor x, int groups, string op)
    {
        if (x.Rank < 2) throw new PisaException($"{op}: expected [N, ..., C], got [{Tensors.ShapeUtil.Format(x.Shape)}]");
        int n = x.Shape[0], c = x.Shape[^1];
        if (groups <= 0 || c % groups != 0)
            throw new PisaException($"{op}: {c} channels of [{Tensors.ShapeUtil.Format(x.Shape)}] are not divisible into {groups} groups");
        long positions = n == 0 || c == 0 ? 0 : x.Count / ((long)n * c);
        return (n, positions, c);
    }

    private static void CheckVector(float[] v, int c, string what)
    {
        if (v.Length != c) throw new PisaException($"{what} has {v.Length} elements, expected {c}");
    }
}
