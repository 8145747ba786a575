namespace PiSa.Engine.Backends.Cpu;

/// <summary>Data-movement ops on NHWC / [B, L, C]: resampling, channel concat/slice, spatial crop.</summary>
internal static class CpuShape
{
    public static CpuTensor UpsampleNearest2x(CpuTensor x)
    {
        RequireRank4(x, "UpsampleNearest2x");
        int n = x.Shape[0], h = x.Shape[1], w = x.Shape[2], c = x.Shape[3];
        var y = CpuTensor.Rent(n, 2 * h, 2 * w, c);
        var src = x.Data;
        var dst = y.Data;
        CpuRows.For((long)n * h, 4, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++) // r = b*h + iy, source row
            {
                long b = r / h, iy = r % h;
                var srcRow = src.AsSpan((int)(r * w * c), w * c);
                for (int dy = 0; dy < 2; dy++)
                {
                    long outRow = (b * 2 * h + 2 * iy + dy) * 2 * w * c;
                    for (int ix = 0; ix < w; ix++)
                    {
                        var px = srcRow.Slice(ix * c, c);
                        px.CopyTo(dst.AsSpan((int)(outRow + 2 * ix * c), c));
                        px.CopyTo(dst.AsSpan((int)(outRow + (2 * ix + 1) * c), c));
                    }
                }
            }
        });
        return y;
    }

    public static CpuTensor ConcatChannels(CpuTensor a, CpuTensor b)
    {
        bool ok = a.Rank == b.Rank && a.Rank >= 1;
        for (int i = 0; ok && i < a.Rank - 1; i++) ok = a.Shape[i] == b.Shape[i];
        if (!ok)
            throw new PisaException($"ConcatChannels: [{Tensors.ShapeUtil.Format(a.Shape)}] and [{Tensors.ShapeUtil.Format(b.Shape)}] differ outside the last dimension");
        int ca = a.Shape[^1], cb = b.Shape[^1], c = ca + cb;
        var shape = (int[])a.Shape.Clone();
        shape[^1] = c;
        var y = CpuTensor.Rent(shape);
        long rows = ca == 0 ? (cb == 0 ? 0 : b.Count / cb) : a.Count / ca;
        var sa = a.Data;
        var sb = b.Data;
        var dst = y.Data;
        CpuRows.For(rows, 256, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                sa.AsSpan((int)(r * ca), ca).CopyTo(dst.AsSpan((int)(r * c), ca));
                sb.AsSpan((int)(r * cb), cb).CopyTo(dst.AsSpan((int)(r * c + ca), cb));
            }
        });
        return y;
    }

    public static CpuTensor SliceChannels(CpuTensor x, int start, int count)
    {
        int c = x.Shape[^1];
        if (start < 0 || count < 0 || start + count > c)
            throw new PisaException($"SliceChannels: channels [{start}, {start + count}) outside [{Tensors.ShapeUtil.Format(x.Shape)}]");
        var shape = (int[])x.Shape.Clone();
        shape[^1] = count;
        var y = CpuTensor.Rent(shape);
        long rows = c == 0 ? 0 : x.Count / c;
        var src = x.Data;
        var dst = y.Data;
        CpuRows.For(rows, 256, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
                src.AsSpan((int)(r * c + start), count).CopyTo(dst.AsSpan((int)(r * count), count));
        });
        return y;
    }

    public static CpuTensor CropSpatial(CpuTensor x, int y0, int y1, int x0, int x1)
    {
        RequireRank4(x, "CropSpatial");
        int n = x.Shape[0], h = x.Shape[1], w = x.Shape[2], c = x.Shape[3];
        if (y0 < 0 || y1 > h || y0 > y1 || x0 < 0 || x1 > w || x0 > x1)
            throw new PisaException($"CropSpatial: rows [{y0}, {y1}) columns [{x0}, {x1}) outside [{Tensors.ShapeUtil.Format(x.Shape)}]");
        int oh = y1 - y0, ow = x1 - x0;
        var y = CpuTensor.Rent(n, oh, ow, c);
        var src = x.Data;
        var dst = y.Data;
        CpuRows.For((long)n * oh, 8, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long b = r / oh, oy = r % oh;
                src.AsSpan((int)(((b * h + y0 + oy) * w + x0) * c), ow * c).CopyTo(dst.AsSpan((int)(r * ow * c), ow * c));
            }
        });
        return y;
    }

    private static void RequireRank4(CpuTensor x, string op)
    {
        if (x.Rank != 4) throw new PisaException($"{op}: expected NHWC [N, H, W, C], got [{Tensors.ShapeUtil.Format(x.Shape)}]");
    }
}
