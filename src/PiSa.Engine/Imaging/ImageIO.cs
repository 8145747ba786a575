using StbImageSharp;
using StbImageWriteSharp;
using ReadComponents = StbImageSharp.ColorComponents;
using WriteComponents = StbImageWriteSharp.ColorComponents;

namespace PiSa.Engine.Imaging;

/// <summary>
/// Image files in and out. Decoding (PNG, JPEG, BMP, TGA and the other formats stb_image reads) always
/// yields 8-bit RGB, as <c>Image.open(path).convert("RGB")</c> does: alpha is dropped, grey is replicated,
/// 16-bit samples keep their high byte. The header is read first so that a huge image is refused before
/// anything is allocated. Encoding goes to a temporary file beside the target, renamed over it only
/// once complete, so a failed save never leaves a partial file or destroys an existing one.
/// </summary>
public static class ImageIO
{
    /// <summary>Largest accepted decoded image, in pixels (16384 x 16384).</summary>
    public const long MaxPixels = 16384L * 16384L;
    /// <summary>Largest accepted width or height.</summary>
    public const int MaxSide = 65535;
    /// <summary>JPEG quality used for .jpg/.jpeg output.</summary>
    public const int JpegQuality = 95;

    public static RgbImage Load(string path)
    {
        if (!File.Exists(path)) throw new PisaException($"input image '{path}' does not exist");
        byte[] bytes;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            if (file.Length == 0) throw new PisaException($"input image '{path}' is empty");
            if (file.Length > Array.MaxLength) throw new PisaException($"input image '{path}' is larger than 2 GB");
            // Refuse a huge image from its header before reading the whole file.
            ReadHeader(file, path);
            file.Position = 0;
            bytes = new byte[file.Length];
            file.ReadExactly(bytes);
        }
        catch (PisaException) { throw; }
        catch (IOException e) { throw new PisaException($"cannot read input image '{path}': {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new PisaException($"cannot read input image '{path}': {e.Message}", e); }
        return Decode(bytes, path);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="nameForErrors"/> appears in messages.</summary>
    public static RgbImage Decode(byte[] encoded, string nameForErrors)
    {
        if (encoded.Length == 0) throw new PisaException($"input image '{nameForErrors}' is empty");
        var stream = new EofCountingStream(encoded);
        var header = ReadHeader(stream, nameForErrors);

        stream.Position = 0;
        ImageResult result;
        try { result = ImageResult.FromStream(stream, ReadComponents.RedGreenBlue); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new PisaException($"input image '{nameForErrors}' is damaged or truncated ({OneLine(e.Message)})", e);
        }
        if (stream.ReadsPastEnd > 0)
            throw new PisaException($"input image '{nameForErrors}' is truncated");
        if (result.Width != header.Width || result.Height != header.Height || result.Data is null ||
            result.Data.LongLength != (long)result.Width * result.Height * 3)
            throw new PisaException($"input image '{nameForErrors}' decoded to an inconsistent size");
        return new RgbImage(result.Width, result.Height, result.Data);
    }

    /// <summary>Width and height from an encoded image's header, without decoding it (a server checks its own,
    /// smaller pixel limit with this before anything is allocated).</summary>
    public static (int Width, int Height) PeekSize(byte[] encoded, string nameForErrors)
    {
        if (encoded.Length == 0) throw new PisaException($"input image '{nameForErrors}' is empty");
        var header = ReadHeader(new MemoryStream(encoded, writable: false), nameForErrors);
        return (header.Width, header.Height);
    }

    /// <summary>Reads and checks the header (size limit) of the image at the start of a seekable stream.
    /// stb_image rewinds to position 0, so the image must start there.</summary>
    private static ImageInfo ReadHeader(Stream stream, string name)
    {
        ImageInfo? info;
        try { info = ImageInfo.FromStream(stream); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new PisaException($"input image '{name}' is not a readable image ({OneLine(e.Message)})", e);
        }
        if (info is not { } header || header.Width <= 0 || header.Height <= 0)
            throw new PisaException($"input image '{name}' is not a readable PNG, JPEG, BMP or TGA image");
        CheckSize(header.Width, header.Height, name);
        return header;
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");

    private static void CheckSize(int width, int height, string name)
    {
        if (width > MaxSide || height > MaxSide || (long)width * height > MaxPixels)
            throw new PisaException(
                $"input image '{name}' is {width}x{height}: larger than the {MaxPixels / 1_000_000} megapixel limit (at most {MaxSide} per side)");
    }

    /// <summary>The encoding for an output path's extension (.png, .jpg/.jpeg, .bmp, .tga).</summary>
    public static ImageFormat FormatFromPath(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => ImageFormat.Png,
        ".jpg" or ".jpeg" => ImageFormat.Jpeg,
        ".bmp" => ImageFormat.Bmp,
        ".tga" => ImageFormat.Tga,
        var ext => throw new PisaException(
            $"output '{path}': unsupported extension '{ext}' (use .png, .jpg, .jpeg, .bmp or .tga)"),
    };

    /// <summary>Encodes to a byte stream in the given format.</summary>
    public static void Encode(RgbImage image, ImageFormat format, Stream destination)
    {
        var writer = new ImageWriter();
        switch (format)
        {
            case ImageFormat.Png:
                PngEncoder.Write(image, destination);
                break;
            case ImageFormat.Jpeg:
                writer.WriteJpg(image.Data, image.Width, image.Height, WriteComponents.RedGreenBlue, destination, JpegQuality);
                break;
            case ImageFormat.Bmp:
                writer.WriteBmp(image.Data, image.Width, image.Height, WriteComponents.RedGreenBlue, destination);
                break;
            case ImageFormat.Tga:
                writer.WriteTga(image.Data, image.Width, image.Height, WriteComponents.RedGreenBlue, destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(format), format, null);
        }
    }

    /// <summary>Writes the image, format by extension, atomically replacing any existing file.</summary>
    public static void Save(RgbImage image, string path)
    {
        ImageFormat format = FormatFromPath(path);
        if (format == ImageFormat.Jpeg && (image.Width > 65535 || image.Height > 65535))
            throw new PisaException($"output '{path}': JPEG cannot hold a {image.Width}x{image.Height} image");
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new PisaException($"output '{path}': folder '{dir}' does not exist");

        // Same folder, so the final rename stays on one file system and is atomic.
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Encode(image, format, stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new PisaException($"cannot write output '{path}': {e.Message}", e);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
