namespace PiSa.Engine.Imaging;

/// <summary>
/// Image files in and out. <see cref="Load"/> gives 8-bit RGB, as <c>Image.open(path).convert("RGB")</c> does
/// (alpha dropped, grey replicated); <see cref="ImageDecoder.Load"/> keeps everything else the file holds.
/// Writing goes to a temporary file beside the target, renamed over it only once complete, so a failed save
/// never leaves a partial file or destroys an existing one.
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

/// <summary>Writes a file through a temporary name in the same folder, renamed over the target once complete.</summary>
public static class AtomicFile
{
    /// <summary>Prefix of the temporary names (hidden, and never taken for an output).</summary>
    public const string TempPrefix = ".";

    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new PisaException($"output '{path}': folder '{dir}' does not exist");
        // Same folder, so the final rename stays on one file system and is atomic.
        string temp = Path.Combine(dir, $"{TempPrefix}{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
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
