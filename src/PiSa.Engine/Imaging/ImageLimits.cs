namespace PiSa.Engine.Imaging;

/// <summary>
/// Bounds on decoding an untrusted image file, all enforced in <see cref="ImageDecoder"/> (the one door every
/// input image goes through). The header is identified first and checked against <see cref="MaxPixels"/> and
/// <see cref="MaxSide"/> and against what the file's size can hold at the format's best possible compression
/// (so a tiny file whose header declares a huge image is refused before any pixel buffer exists); the decoder
/// allocates through a memory allocator capped at <see cref="AllocationLimitMegabytes"/> per buffer; and it is
/// cancelled after <see cref="DecodeTimeout"/>.
/// </summary>
public static class ImageLimits
{
    /// <summary>Largest accepted input, in pixels (8192 x 8192 = 67 megapixels; x4 makes that 1 gigapixel).</summary>
    public const long MaxPixels = 8192L * 8192L;
    /// <summary>Largest accepted width or height.</summary>
    public const int MaxSide = 16384;
    /// <summary>Cap on one decoder buffer: the largest image at 8 bytes a pixel (RGBA, 16 bits), plus slack.</summary>
    public const int AllocationLimitMegabytes = (int)(MaxPixels * 8 / (1 << 20)) + 64;
    /// <summary>Wall-clock bound on one decode; a legitimate image at the pixel limit decodes far faster.</summary>
    public static readonly TimeSpan DecodeTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The largest pixel count a file of <paramref name="fileBytes"/> bytes can hold in this format at the best
    /// compression the format allows, or null when the format has no useful bound (TIFF, WebP, BMP, TGA: there
    /// the pixel limit, the allocation cap and the time bound apply). PNG: deflate expands at most 1032:1 and a
    /// pixel is at least 1 bit. JPEG (Huffman, the only coding the decoder reads): every 8x8 block of the first
    /// scan takes at least one bit. GIF: one 12-bit LZW code emits at most 4096 pixels.
    /// </summary>
    public static long? MaxPixelsForFileSize(string formatName, long fileBytes) => formatName switch
    {
        "PNG" => SaturatingMul(fileBytes, 1032L * 8),
        "JPEG" => SaturatingMul(fileBytes, 8L * 64),
        "GIF" => SaturatingMul(fileBytes, 4096L * 8 / 12 + 1),
        _ => null,
    };

    private static long SaturatingMul(long a, long b) => a > long.MaxValue / b ? long.MaxValue : a * b;
}
