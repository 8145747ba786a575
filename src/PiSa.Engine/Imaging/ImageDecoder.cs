using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Formats.Tiff.Constants;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace PiSa.Engine.Imaging;

/// <summary>
/// The one place an input image file is decoded (SixLabors.ImageSharp: PNG, JPEG, WebP, TIFF, BMP, TGA, GIF's
/// first frame), under the bounds of <see cref="ImageLimits"/>: header first, then a capped allocator and a
/// time limit. A file that ends before the decoder is done is refused (ImageSharp fills the missing part of
/// some formats with zeros; Pillow refuses them). EXIF orientation is applied here, so every later step sees
/// the picture upright.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Largest accepted input file.</summary>
    public const long MaxFileBytes = 1L << 30;

    private static readonly Configuration Config = CreateConfiguration();

    private static Configuration CreateConfiguration()
    {
        // NativeAOT: ImageSharp 2.1's EXIF reader (every TIFF, and EXIF in any format) calls
        // Enum.GetValues(typeof(ExifDataType)), which needs the array type compiled into the binary (ILC reports
        // it as IL3050 on EnumUtils.Parse<ExifDataType>, the only such call in the library). Making one here does that.
        GC.KeepAlive(new ExifDataType[1]);
        var c = Configuration.Default.Clone();
        c.MemoryAllocator = MemoryAllocator.Create(new MemoryAllocatorOptions { AllocationLimitMegabytes = ImageLimits.AllocationLimitMegabytes });
        c.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { DecodingMode = FrameDecodingMode.First });
        c.ImageFormatsManager.SetDecoder(TiffFormat.Instance, new TiffDecoder { DecodingMode = FrameDecodingMode.First });
        return c;
    }

    public static SourceImage Load(string path)
    {
        if (!File.Exists(path)) throw new PisaException($"input image '{path}' does not exist");
        byte[] bytes;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            if (file.Length == 0) throw new PisaException($"input image '{path}' is empty");
            if (file.Length > MaxFileBytes) throw new PisaException($"input image '{path}' is larger than {MaxFileBytes >> 30} GB");
            bytes = new byte[file.Length];
            file.ReadExactly(bytes);
        }
        catch (PisaException) { throw; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PisaException($"cannot read input image '{path}': {e.Message}", e);
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="name"/> appears in messages.</summary>
    /// <param name="timeout">Bound on the decode (default <see cref="ImageLimits.DecodeTimeout"/>).</param>
    public static SourceImage Decode(byte[] encoded, string name, TimeSpan? timeout = null)
    {
        if (encoded.Length == 0) throw new PisaException($"input image '{name}' is empty");
        var format = Identify(encoded, name);
        if (FileCompleteness.Problem(format.Name, encoded) is string problem)
            throw new PisaException($"input image '{name}' {problem}");
        var limit = timeout ?? ImageLimits.DecodeTimeout;
        var stream = new MemoryStream(encoded, writable: false);
        var cancel = new CancellationTokenSource(limit);
        // The token asks the decoder to stop; the bounded wait stops waiting for a decoder that does not check
        // it (the abandoned decode then fails on its cancelled token or finishes unobserved).
        var task = Task.Run(async () => format.Name == "JPEG"
            // JPEG is 8-bit only and its decoder rounds differently into 16-bit pixels: keep it at 8 bits.
            ? (Image)await Image.LoadAsync<Rgba32>(Config, stream, cancel.Token)
            : await Image.LoadAsync<Rgba64>(Config, stream, cancel.Token));
        Image image;
        try
        {
            if (!task.Wait(limit))
            {
                cancel.Cancel();
                throw new OperationCanceledException();
            }
            image = task.Result;
            cancel.Dispose();
            stream.Dispose();
        }
        catch (Exception e)
        {
            var inner = e is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerExceptions[0] : e;
            throw inner switch
            {
                OperationCanceledException => new PisaException($"input image '{name}' took longer than {limit.TotalSeconds:0.###} s to decode (damaged or hostile file)", inner),
                InvalidMemoryOperationException => new PisaException($"input image '{name}' needs more decoder memory than the {ImageLimits.AllocationLimitMegabytes} MB limit (damaged or hostile file)", inner),
                OutOfMemoryException => new PisaException($"input image '{name}' needs more memory to decode than is available", inner),
                _ => new PisaException($"input image '{name}' is damaged or truncated ({inner.Message})", inner),
            };
        }
        using (image)
        {
            if (image.Width < 1 || image.Height < 1)
                throw new PisaException($"input image '{name}' decoded to an empty image");
            var source = Convert(image, format.Name);
            // ImageSharp 2.1 ignores a PNG's iCCP chunk: read the profile here so it reaches the output.
            if (format.Name == "PNG" && source.Metadata is { IccProfile: null } meta && PngIccChunk.Read(encoded) is byte[] icc)
                meta.IccProfile = new SixLabors.ImageSharp.Metadata.Profiles.Icc.IccProfile(icc);
            return source;
        }
    }

    /// <summary>Width and height from the header, checked against the same bounds as <see cref="Decode"/>
    /// (size, side, what the file's length can hold), without decoding any pixel.</summary>
    public static (int Width, int Height) PeekSize(byte[] encoded, string name)
    {
        if (encoded.Length == 0) throw new PisaException($"input image '{name}' is empty");
        var (_, w, h) = IdentifySize(encoded, name);
        return (w, h);
    }

    /// <summary>Reads the header only and refuses sizes beyond the limits, before any pixel buffer exists.</summary>
    private static IImageFormat Identify(byte[] encoded, string name) => IdentifySize(encoded, name).Format;

    private static (IImageFormat Format, int Width, int Height) IdentifySize(byte[] encoded, string name)
    {
        IImageInfo? info;
        IImageFormat? format;
        try
        {
            using var s = new MemoryStream(encoded, writable: false);
            info = Image.Identify(Config, s, out format);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new PisaException($"input image '{name}' is not a readable image ({e.Message})", e);
        }
        if (info is null || format is null)
            throw new PisaException($"input image '{name}' is not a readable PNG, JPEG, WebP, TIFF, BMP, TGA or GIF image");
        int w = info.Width, h = info.Height;
        if (w < 1 || h < 1)
            throw new PisaException($"input image '{name}' declares a {w}x{h} image");
        long pixels = (long)w * h;
        if (w > ImageLimits.MaxSide || h > ImageLimits.MaxSide || pixels > ImageLimits.MaxPixels)
            throw new PisaException(
                $"input image '{name}' is {w}x{h}: larger than the {ImageLimits.MaxPixels / 1_000_000} megapixel limit (at most {ImageLimits.MaxSide} per side)");
        if (ImageLimits.MaxPixelsForFileSize(format.Name, encoded.Length) is long most && pixels > most)
            throw new PisaException(
                $"input image '{name}': its {format.Name} header declares {w}x{h}, more than {encoded.Length} bytes can hold (damaged or hostile file)");
        return (format, w, h);
    }

    private static SourceImage Convert(Image image, string formatName)
    {
        if (formatName == "TIFF") TiffMetadata.LiftFromFrame(image);   // before AutoOrient, which reads the image's EXIF
        image.Mutate(x => x.AutoOrient());
        var metadata = image.Metadata.DeepClone();
        // The pixels are upright now: an orientation tag left as it was would rotate them a second time.
        metadata.ExifProfile?.SetValue(ExifTag.Orientation, (ushort)1);
        bool grey = IsGrey(image, formatName);
        int depth = Is16Bit(image, formatName) ? 16 : 8;
        return image switch
        {
            Image<Rgba32> i8 => From8(i8, grey, metadata, formatName),
            Image<Rgba64> i16 => From16(i16, depth, grey, metadata, formatName),
            _ => throw new InvalidOperationException($"unexpected decoded pixel type {image.GetType().Name}"),
        };
    }

    private static SourceImage From8(Image<Rgba32> img, bool grey, SixLabors.ImageSharp.Metadata.ImageMetadata meta, string formatName)
    {
        int w = img.Width, h = img.Height;
        var rgb = new RgbImage(w, h);
        var alpha = new float[(long)w * h];
        bool translucent = false;
        img.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < h; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < w; x++)
                {
                    var p = row[x];
                    int o = (y * w + x) * 3;
                    rgb.Data[o] = p.R; rgb.Data[o + 1] = p.G; rgb.Data[o + 2] = p.B;
                    alpha[y * w + x] = p.A / 255f;
                    translucent |= p.A != 255;
                }
            }
        });
        return new SourceImage
        {
            Rgb = rgb, Alpha = translucent ? new PlaneImage(w, h, 1, alpha) : null,
            IsGrey = grey, BitDepth = 8, Metadata = meta, FormatName = formatName,
        };
    }

    private static SourceImage From16(Image<Rgba64> img, int depth, bool grey, SixLabors.ImageSharp.Metadata.ImageMetadata meta, string formatName)
    {
        int w = img.Width, h = img.Height;
        var rgb = new RgbImage(w, h);
        float[]? full = depth == 16 ? new float[(long)w * h * 3] : null;
        var alpha = new float[(long)w * h];
        bool translucent = false;
        img.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < h; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < w; x++)
                {
                    var p = row[x];
                    int o = (y * w + x) * 3;
                    // An 8-bit file arrives as v * 257, so >> 8 gives v back exactly; a 16-bit one is rounded.
                    rgb.Data[o] = To8(p.R, depth); rgb.Data[o + 1] = To8(p.G, depth); rgb.Data[o + 2] = To8(p.B, depth);
                    if (full != null) { full[o] = p.R / 65535f; full[o + 1] = p.G / 65535f; full[o + 2] = p.B / 65535f; }
                    alpha[y * w + x] = p.A / 65535f;
                    translucent |= p.A != 65535;
                }
            }
        });
        return new SourceImage
        {
            Rgb = rgb, Rgb16 = full != null ? new PlaneImage(w, h, 3, full) : null,
            Alpha = translucent ? new PlaneImage(w, h, 1, alpha) : null,
            IsGrey = grey, BitDepth = depth, Metadata = meta, FormatName = formatName,
        };
    }

    private static byte To8(ushort v, int depth) => depth == 16 ? (byte)((v + 128) / 257) : (byte)(v >> 8);

    private static bool Is16Bit(Image image, string formatName) => formatName switch
    {
        "PNG" => image.Metadata.GetPngMetadata().BitDepth == PngBitDepth.Bit16,
        "TIFF" => image.Frames.RootFrame.Metadata.GetTiffMetadata().BitsPerSample is { } b && b.Channel0 > 8,
        _ => false,
    };

    private static bool IsGrey(Image image, string formatName) => formatName switch
    {
        "PNG" => image.Metadata.GetPngMetadata().ColorType is PngColorType.Grayscale or PngColorType.GrayscaleWithAlpha,
        "JPEG" => image.Metadata.GetJpegMetadata().ColorType == JpegColorType.Luminance,
        "TIFF" => image.Frames.RootFrame.Metadata.GetTiffMetadata().PhotometricInterpretation
            is TiffPhotometricInterpretation.BlackIsZero or TiffPhotometricInterpretation.WhiteIsZero,
        _ => false,
    };
}
