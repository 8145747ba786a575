using PiSa.Engine.Formats;

namespace PiSa.Engine.Imaging;

/// <summary>
/// Image files in and out. <see cref="Load"/> gives 8-bit RGB, as <c>Image.open(path).convert("RGB")</c> does
/// (alpha dropped, grey replicated); <see cref="ImageDecoder.Load"/> keeps everything else the file holds.
/// Writing goes through <see cref="AtomicFile"/> (a temporary <c>.NAME.pisa-tmp-PID</c> beside the target, renamed
/// over it only once complete), so a failed save (a full disk included) never leaves a partial file or destroys an
/// existing one, and a temporary a killed run left there is removed by the next write into that folder.
/// </summary>
public static class ImageIO
{
    public static RgbImage Load(string path) => ImageDecoder.Load(path).Rgb;

    public static RgbImage Decode(byte[] encoded, string nameForErrors) => ImageDecoder.Decode(encoded, nameForErrors).Rgb;

    /// <summary>The encoding for an output path's extension.</summary>
    public static ImageFormat FormatFromPath(string path) =>
        ImageFormats.FromExtension(Path.GetExtension(path)) ?? throw new PisaException(
            $"output '{path}': unsupported extension '{Path.GetExtension(path)}' (use {ImageFormats.Writable})");

    /// <summary>Writes 8-bit RGB, format by extension, atomically replacing any existing file.</summary>
    public static void Save(RgbImage image, string path) =>
        Save(OutputImage.Plain(image), path, new EncodeOptions { Format = FormatFromPath(path) });

    /// <summary>Writes the image in the given encoding, atomically replacing any existing file.</summary>
    public static ImageEncoder.Outcome Save(OutputImage image, string path, EncodeOptions options)
    {
        if (options.Format == ImageFormat.Jpeg && (image.Width > 65535 || image.Height > 65535))
            throw new PisaException($"output '{path}': JPEG cannot hold a {image.Width}x{image.Height} image");
        ImageEncoder.Outcome outcome = new(false, false);
        AtomicFile.Write(path, stream => outcome = ImageEncoder.Encode(image, options, stream));
        return outcome;
    }
}
