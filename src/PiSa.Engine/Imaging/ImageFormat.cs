namespace PiSa.Engine.Imaging;

/// <summary>The encodings <see cref="ImageIO"/> writes, chosen by file extension or <c>-f/--format</c>.</summary>
public enum ImageFormat
{
    Png,
    Jpeg,
    Webp,
    Tiff,
    Bmp,
    Tga,
}

/// <summary>Names and extensions of <see cref="ImageFormat"/>; the one place that maps between them.</summary>
public static class ImageFormats
{
    /// <summary>Extensions read as images when a folder is given as input (GIF is read, never written).</summary>
    public static readonly string[] InputExtensions = [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".tga", ".gif"];

    /// <summary>Whether the format can store an alpha channel as this project writes it.</summary>
    public static bool HoldsAlpha(ImageFormat f) => f is ImageFormat.Png or ImageFormat.Webp or ImageFormat.Tiff;

    /// <summary>Whether the format can store 16 bits per sample as this project writes it.</summary>
    public static bool Holds16Bit(ImageFormat f) => f is ImageFormat.Png or ImageFormat.Tiff;

    /// <summary>The one line that says an alpha channel was composited on white for this format.</summary>
    public static string AlphaNotice(ImageFormat f) => $"{f.ToString().ToUpperInvariant()} holds no alpha: transparent parts composited on white";

    /// <summary>The one line that says a 16-bit result was written at 8 bits for this format.</summary>
    public static string DepthNotice(ImageFormat f) => $"{f.ToString().ToUpperInvariant()} holds 8 bits per sample: 16-bit result written at 8 bits";

    /// <summary>Whether the format can store a single grey channel as this project writes it.</summary>
    public static bool HoldsGrey(ImageFormat f) => f is ImageFormat.Png or ImageFormat.Jpeg or ImageFormat.Tiff;

    public static string Extension(ImageFormat f) => f switch
    {
        ImageFormat.Png => ".png",
        ImageFormat.Jpeg => ".jpg",
        ImageFormat.Webp => ".webp",
        ImageFormat.Tiff => ".tiff",
        ImageFormat.Bmp => ".bmp",
        ImageFormat.Tga => ".tga",
        _ => throw new ArgumentOutOfRangeException(nameof(f)),
    };

    /// <summary>The format an extension (with the dot, any case) names, or null.</summary>
    public static ImageFormat? FromExtension(string ext) => ext.ToLowerInvariant() switch
    {
        ".png" => ImageFormat.Png,
        ".jpg" or ".jpeg" => ImageFormat.Jpeg,
        ".webp" => ImageFormat.Webp,
        ".tif" or ".tiff" => ImageFormat.Tiff,
        ".bmp" => ImageFormat.Bmp,
        ".tga" => ImageFormat.Tga,
        _ => null,
    };

    /// <summary>The format a <c>--format</c> value names (any case, with or without the dot), or null.</summary>
    public static ImageFormat? FromName(string name) => FromExtension(name.StartsWith('.') ? name : "." + name);

    public const string Writable = ".png, .jpg/.jpeg, .webp, .tif/.tiff, .bmp or .tga";
}
