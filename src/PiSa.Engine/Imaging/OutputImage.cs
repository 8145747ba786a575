using SixLabors.ImageSharp.Metadata;

namespace PiSa.Engine.Imaging;

/// <summary>
/// A result ready to encode: the colour at 8 bits (always) and at 16 bits (when the input was 16-bit), the
/// alpha plane resized to the output size, whether to write grey, and the input's metadata.
/// </summary>
public sealed class OutputImage
{
    public required RgbImage Rgb { get; init; }
    /// <summary>Full-precision colour in [0, 1] (HWC, 3 channels) for a 16-bit output; null for 8-bit.</summary>
    public PlaneImage? Rgb16 { get; init; }
    public PlaneImage? Alpha { get; init; }
    public bool Grey { get; init; }
    public ImageMetadata? Metadata { get; init; }

    public int Width => Rgb.Width;
    public int Height => Rgb.Height;

    /// <summary>A plain 8-bit RGB result with nothing else to carry.</summary>
    public static OutputImage Plain(RgbImage rgb) => new() { Rgb = rgb };
}

/// <summary>How to encode: format, JPEG/WebP quality, and the bit depth to write.</summary>
public sealed record EncodeOptions
{
    public required ImageFormat Format { get; init; }
    /// <summary>JPEG quality, and for WebP the lossy quality (WebP is lossless when null).</summary>
    public int? Quality { get; init; }
    /// <summary>8 or 16 bits per sample; null keeps the image's own (16 where the format holds it).</summary>
    public int? BitDepth { get; init; }
}
