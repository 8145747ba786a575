namespace PiSa.Engine.Backends.Cpu;

/// <summary>Row-parallel helpers shared by the CPU ops (chunking large loops over the cores).</summary>
internal static class CpuRows
{
    /// <summary>Runs body(start, end) over [0, count) in contiguous chunks of at least minChunk items.</summary>
    public static void For(long count, long minChunk, Action<long, long> body)
    {
        if (count <= 0) return;
        int chunks = (int)Math.Min(4L * Environment.ProcessorCount, Math.Max(1, count / Math.Max(1, minChunk)));
        if (chunks <= 1) { body(0, count); return; }
        Parallel.For(0, chunks, i => body(count * i / chunks, count * (i + 1) / chunks));
    }

    /// <summary>Zeroes an array (pooled outputs come back with old contents), chunked over the cores.</summary>
    public static void Clear(float[] a)
    {
        For(a.LongLength, 1 << 16, (i0, i1) => a.AsSpan((int)i0, (int)(i1 - i0)).Clear());
    }

    /// <summary>Fills out [rows, cols] with bias[col] (or 0) plus residual[row, col] (if any): the GEMM accumulates onto it.</summary>
    public static void InitBiasResidual(float[] output, int rows, int cols, float[]? bias, float[]? residual)
    {
        if (bias == null && residual == null) { Clear(output); return; } // pooled outputs hold old values
        For(rows, 256, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                var dst = output.AsSpan((int)(r * cols), cols);
                if (residual != null) residual.AsSpan((int)(r * cols), cols).CopyTo(dst);
                if (bias != null)
                {
                    if (residual != null) System.Numerics.Tensors.TensorPrimitives.Add(dst, bias, dst);
                    else bias.AsSpan(0, cols).CopyTo(dst);
                }
            }
        });
    }
}
