using SixLabors.ImageSharp.Metadata;

namespace PiSa.Engine.Imaging;

/// <summary>
/// A decoded input as the file had it, EXIF orientation already applied: the colour as 8-bit RGB (what the
/// model path of SPEC section 3 takes), plus what 8-bit RGB would lose: full-precision colour for 16-bit
/// files, the alpha plane, whether it was grey, and the metadata to carry to the output.
/// </summary>
public sealed class SourceImage
{
    /// <summary>The colour, 8 bits (for a 16-bit file: each sample rounded to 8 bits; unused by its model path).</summary>
    public required RgbImage Rgb { get; init; }
    /// <summary>16 bits per sample in the file: the colour at full precision (sample / 65535); null otherwise.</summary>
    public PlaneImage? Rgb16 { get; init; }
    /// <summary>The alpha plane in [0, 1], or null when the file has none or it is opaque everywhere.</summary>
    public PlaneImage? Alpha { get; init; }
    /// <summary>True when the file stores a single grey channel (PNG, JPEG or TIFF greyscale).</summary>
    public bool IsGrey { get; init; }
    /// <summary>8 or 16: bits per sample in the file.</summary>
    public int BitDepth { get; init; } = 8;
    /// <summary>ICC profile, EXIF (orientation reset to 1) and XMP of the file, carried to the output.</summary>
    public ImageMetadata? Metadata { get; init; }
    /// <summary>The container the file turned out to be (by content, not by name): "PNG", "JPEG", ...</summary>
    public string FormatName { get; init; } = "";

    public int Width => Rgb.Width;
    public int Height => Rgb.Height;
}
