namespace PiSa.Engine.Imaging;

/// <summary>
/// <c>PIL.Image.resize(size, filter)</c> of Pillow 9.4 for RGB images, bit-exact: Pillow resamples 8-bit
/// images with integer arithmetic (fixed-point weights, +1/2 rounding, clipping), a horizontal pass into
/// an 8-bit temporary holding only the rows the vertical pass reads, then a vertical pass; a pass whose
/// axis keeps its size is skipped, and an unchanged size gives a plain copy. NEAREST goes through
/// Pillow's affine scale path instead of the convolution.
/// </summary>
public static class PilResize
{
    // Below this many output bytes a resize runs on one thread (thread start-up would dominate).
    private const long ParallelThreshold = 1 << 16;

    public static RgbImage Resize(RgbImage src, int width, int height, ResampleFilter filter)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (width < 1 || height < 1)
            throw new ArgumentException($"resize target {width}x{height} must be at least 1x1");
        RgbImage.ByteCount(width, height);
        if (width == src.Width && height == src.Height) return src.Clone();
        if (filter == ResampleFilter.Nearest) return ResizeNearest(src, width, height);

        bool needHorizontal = width != src.Width;
        bool needVertical = height != src.Height;
        var horizontal = ResampleCoefficients.Compute(src.Width, width, filter);
        var vertical = ResampleCoefficients.Compute(src.Height, height, filter);

        RgbImage current = src;
        int rowOffset = 0;
        if (needHorizontal)
        {
            // Only the source rows some output row reads from go through the horizontal pass.
            int firstRow = vertical.Start[0];
            int endRow = vertical.Start[height - 1] + vertical.Count[height - 1];
            current = HorizontalPass(src, horizontal, width, firstRow, endRow - firstRow);
            rowOffset = firstRow;
        }
        if (needVertical)
            current = VerticalPass(current, vertical, height, rowOffset);
        return current;
    }

    private static RgbImage HorizontalPass(RgbImage src, ResampleCoefficients c, int outWidth, int firstRow, int rows)
    {
        var dst = new RgbImage(outWidth, rows);
        byte[] s = src.Data, d = dst.Data;
        int srcStride = src.Width * 3, dstStride = outWidth * 3;
        int[] w = c.Weights;

        void Row(int y)
        {
            int srcRow = (y + firstRow) * srcStride;
            int dstRow = y * dstStride;
            for (int x = 0; x < outWidth; x++)
            {
                int kBase = x * c.KernelSize;
                int p = srcRow + c.Start[x] * 3;
                int n = c.Count[x];
                int r = ResampleCoefficients.Half, g = r, b = r;
                for (int t = 0; t < n; t++, p += 3)
                {
                    int k = w[kBase + t];
                    r += s[p] * k;
                    g += s[p + 1] * k;
                    b += s[p + 2] * k;
                }
                int o = dstRow + x * 3;
                d[o] = ResampleCoefficients.Clip8(r);
                d[o + 1] = ResampleCoefficients.Clip8(g);
                d[o + 2] = ResampleCoefficients.Clip8(b);
            }
        }

        ForRows(rows, (long)rows * dstStride, Row);
        return dst;
    }

    /// <summary>Vertical pass; <paramref name="rowOffset"/> is the source row that row 0 of
    /// <paramref name="src"/> stands for (non-zero when src is the trimmed horizontal temporary).</summary>
    private static RgbImage VerticalPass(RgbImage src, ResampleCoefficients c, int outHeight, int rowOffset)
    {
        int stride = src.Width * 3;
        var dst = new RgbImage(src.Width, outHeight);
        byte[] s = src.Data, d = dst.Data;
        int[] w = c.Weights;

        void Row(int y)
        {
            // Integer sums are order-independent, so accumulate a whole row tap by tap.
            Span<int> acc = stride <= 4096 ? stackalloc int[stride] : new int[stride];
            acc.Fill(ResampleCoefficients.Half);
            int kBase = y * c.KernelSize;
            int first = c.Start[y] - rowOffset;
            for (int t = 0; t < c.Count[y]; t++)
            {
                int k = w[kBase + t];
                ReadOnlySpan<byte> line = s.AsSpan((first + t) * stride, stride);
                for (int i = 0; i < line.Length; i++) acc[i] += line[i] * k;
            }
            Span<byte> outLine = d.AsSpan(y * stride, stride);
            for (int i = 0; i < outLine.Length; i++) outLine[i] = ResampleCoefficients.Clip8(acc[i]);
        }

        ForRows(outHeight, (long)outHeight * stride, Row);
        return dst;
    }

    /// <summary>Pillow's ImagingScaleAffine: source position accumulated in double from the pixel centre
    /// of the first output pixel, truncated to an index.</summary>
    private static RgbImage ResizeNearest(RgbImage src, int width, int height)
    {
        int[] xs = NearestIndices(src.Width, width);
        int[] ys = NearestIndices(src.Height, height);
        var dst = new RgbImage(width, height);
        byte[] s = src.Data, d = dst.Data;
        for (int y = 0; y < height; y++)
        {
            int srcRow = ys[y] * src.Width * 3, dstRow = y * width * 3;
            for (int x = 0; x < width; x++)
            {
                int p = srcRow + xs[x] * 3, o = dstRow + x * 3;
                d[o] = s[p];
                d[o + 1] = s[p + 1];
                d[o + 2] = s[p + 2];
            }
        }
        return dst;
    }

    private static int[] NearestIndices(int inSize, int outSize)
    {
        double step = (double)(float)inSize / outSize;
        double pos = step * 0.5;
        var idx = new int[outSize];
        for (int i = 0; i < outSize; i++)
        {
            // Pillow leaves out-of-range positions unwritten; accumulated rounding can only push the
            // last one to inSize, so clamp instead.
            idx[i] = Math.Min((int)pos, inSize - 1);
            pos += step;
        }
        return idx;
    }

    private static void ForRows(int rows, long outBytes, Action<int> row)
    {
        if (outBytes < ParallelThreshold || Environment.ProcessorCount == 1)
            for (int y = 0; y < rows; y++) row(y);
        else
            Parallel.For(0, rows, row);
    }
}
