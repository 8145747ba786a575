namespace PiSa.Engine.Pipeline.VaeTiling;

/// <summary>A tile rectangle in VAEHook's bbox order [x1, x2, y1, y2]: columns [X0, X1), rows [Y0, Y1).</summary>
public readonly record struct TileBox(int X0, int X1, int Y0, int Y1)
{
    public int Width => X1 - X0;
    public int Height => Y1 - Y0;
    public override string ToString() => $"[{X0}, {X1}, {Y0}, {Y1}]";
}

/// <summary>How VAEHook cuts one input: padded input boxes (in input pixels) and the output box each
/// tile's valid region is pasted into (in output pixels), in row-major tile order.</summary>
public sealed record VaeTilePlan(
    int Height, int Width, int TileSize, int Pad, bool IsDecoder, int Scale,
    int Rows, int Cols, int RealTileHeight, int RealTileWidth,
    TileBox[] InputBoxes, TileBox[] OutputBoxes)
{
    public int TileCount => InputBoxes.Length;
    public int OutputHeight => IsDecoder ? Height * Scale : Height / Scale;
    public int OutputWidth => IsDecoder ? Width * Scale : Width / Scale;
}

/// <summary>
/// The tile geometry of PiSA-SR's VAEHook (src/my_utils/vaehook.py, from multidiffusion-upscaler's
/// Tiled VAE), reproduced with Python's integer semantics (floor division and modulo of negatives matter
/// for small inputs: a decoder input shorter than 2*pad gives a "tile height" of 0 and one full-height row).
///
/// - pad: 32 input pixels around encoder tiles, 11 latent pixels around decoder tiles.
/// - An input with max(H, W) &lt;= tile + 2*pad is not tiled at all (the plain forward runs).
/// - rows = max(1, ceil((H - 2 pad) / tile)), likewise columns; the real tile size is
///   ceil((H - 2 pad) / rows) rounded up to a multiple of 32, 16, 8, 4 or 2 (the largest that stays within
///   the requested tile size), see <see cref="BestTileSize"/>.
/// - Tile (i, j) covers [pad + j*tw, min(pad + (j+1)*tw, W)) x [pad + i*th, min(pad + (i+1)*th, H)); its output
///   box is that, extended to the image border when it starts within pad of the first edge / ends within pad of
///   the far edge, scaled by 8 (decoder) or floor-divided by 8 (encoder); its input box is the core grown by pad
///   on every side, clipped to the image.
/// </summary>
public static class VaeTileSplitter
{
    public const int EncoderPad = 32;
    public const int DecoderPad = 11;

    public static int PadFor(bool isDecoder) => isDecoder ? DecoderPad : EncoderPad;

    /// <summary>VAEHook runs the plain forward when max(H, W) &lt;= pad * 2 + tile size.</summary>
    public static bool NeedsTiling(int height, int width, int tileSize, bool isDecoder) =>
        Math.Max(height, width) > PadFor(isDecoder) * 2 + tileSize;

    /// <summary>VAEHook.get_best_tile_size: round lowerbound up to a multiple of 32 (then 16, 8, 4, 2) if that
    /// stays &lt;= upperbound; otherwise lowerbound itself.</summary>
    public static int BestTileSize(int lowerbound, int upperbound)
    {
        for (int divider = 32; divider >= 2; divider /= 2)
        {
            int remainder = PyMod(lowerbound, divider);
            if (remainder == 0) return lowerbound;
            int candidate = lowerbound - remainder + divider;
            if (candidate <= upperbound) return candidate;
        }
        return lowerbound;
    }

    /// <summary>VAEHook.split_tiles for an input of <paramref name="height"/> x <paramref name="width"/>;
    /// <paramref name="scale"/> is the VAE's spatial factor (8: VAEHook hard-codes it).</summary>
    public static VaeTilePlan Split(int height, int width, int tileSize, bool isDecoder, int scale = 8)
    {
        if (tileSize < 1) throw new PisaException($"VAE tiling: tile size {tileSize} must be positive");
        if (height < 1 || width < 1) throw new PisaException($"VAE tiling: empty input {height}x{width}");
        int pad = PadFor(isDecoder);
        int rows = Math.Max(CeilDiv(height - 2 * pad, tileSize), 1);
        int cols = Math.Max(CeilDiv(width - 2 * pad, tileSize), 1);
        int th = BestTileSize(CeilDiv(height - 2 * pad, rows), tileSize);
        int tw = BestTileSize(CeilDiv(width - 2 * pad, cols), tileSize);

        var inBoxes = new TileBox[rows * cols];
        var outBoxes = new TileBox[rows * cols];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                int x0 = pad + j * tw, x1 = Math.Min(pad + (j + 1) * tw, width);
                int y0 = pad + i * th, y1 = Math.Min(pad + (i + 1) * th, height);
                var core = new TileBox(
                    x0 > pad ? x0 : 0, x1 < width - pad ? x1 : width,
                    y0 > pad ? y0 : 0, y1 < height - pad ? y1 : height);
                outBoxes[i * cols + j] = isDecoder
                    ? new TileBox(core.X0 * scale, core.X1 * scale, core.Y0 * scale, core.Y1 * scale)
                    : new TileBox(FloorDiv(core.X0, scale), FloorDiv(core.X1, scale), FloorDiv(core.Y0, scale), FloorDiv(core.Y1, scale));
                inBoxes[i * cols + j] = new TileBox(
                    Math.Max(0, x0 - pad), Math.Min(width, x1 + pad),
                    Math.Max(0, y0 - pad), Math.Min(height, y1 + pad));
            }
        }
        return new VaeTilePlan(height, width, tileSize, pad, isDecoder, scale, rows, cols, th, tw, inBoxes, outBoxes);
    }

    /// <summary>VAEHook's crop_valid_region: rows/columns of a tile's output (of size outH x outW) that land in
    /// its output box. The input box is scaled like the output box; the margins are taken relative to it.</summary>
    public static TileBox ValidRegion(TileBox input, TileBox output, int outH, int outW, bool isDecoder, int scale)
    {
        TileBox padded = isDecoder
            ? new TileBox(input.X0 * scale, input.X1 * scale, input.Y0 * scale, input.Y1 * scale)
            : new TileBox(FloorDiv(input.X0, scale), FloorDiv(input.X1, scale), FloorDiv(input.Y0, scale), FloorDiv(input.Y1, scale));
        return new TileBox(
            output.X0 - padded.X0, outW + (output.X1 - padded.X1),
            output.Y0 - padded.Y0, outH + (output.Y1 - padded.Y1));
    }

    // Python integer semantics (floor division, non-negative modulo for a positive divisor).
    internal static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);
    internal static int CeilDiv(int a, int b) => (int)Math.Ceiling((double)a / b);
    internal static int PyMod(int a, int b) => a - b * FloorDiv(a, b);
}
