namespace PiSa.Engine.Imaging;

/// <summary>
/// The grid's contact sheet: one cell per (lambda_pix, lambda_sem) pair, rows in the order of the lambda_pix
/// values and columns in the order of the lambda_sem values, each cell the pair's 8-bit RGB result at full size
/// (alpha not shown), cells separated by a <see cref="Gap"/>-pixel white border, also around the sheet.
/// </summary>
public static class ContactSheet
{
    public const int Gap = 8;

    /// <param name="cells">Row-major: cells[r * columns + c] is (lambda_pix[r], lambda_sem[c]); all the same size.</param>
    public static RgbImage Build(IReadOnlyList<RgbImage> cells, int rows, int columns)
    {
        if (cells.Count != rows * columns || cells.Count == 0) throw new ArgumentException($"{cells.Count} cells for a {rows}x{columns} sheet");
        int cw = cells[0].Width, ch = cells[0].Height;
        long width = (long)columns * (cw + Gap) + Gap, height = (long)rows * (ch + Gap) + Gap;
        if (width > int.MaxValue || height > int.MaxValue) throw new PisaException($"a {rows}x{columns} contact sheet of {cw}x{ch} images is too large");
        var sheet = new RgbImage((int)width, (int)height);
        Array.Fill(sheet.Data, (byte)255);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                var cell = cells[r * columns + c];
                if (cell.Width != cw || cell.Height != ch) throw new ArgumentException("contact sheet cells differ in size");
                int x0 = Gap + c * (cw + Gap), y0 = Gap + r * (ch + Gap);
                for (int y = 0; y < ch; y++)
                    cell.Data.AsSpan(y * cw * 3, cw * 3).CopyTo(sheet.Data.AsSpan(((y0 + y) * (int)width + x0) * 3));
            }
        return sheet;
    }
}
