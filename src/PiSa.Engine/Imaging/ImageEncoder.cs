using System.Buffers.Binary;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.PixelFormats;

namespace PiSa.Engine.Imaging;

/// <summary>
/// Encodes an <see cref="OutputImage"/> with SixLabors.ImageSharp, TIFF with our <see cref="TiffWriter"/> (ImageSharp
/// 2.1's TIFF encoder writes neither 16-bit nor alpha samples). Alpha is written where the format holds it (PNG, WebP,
/// TIFF) and composited on white elsewhere (the caller is told, to say so once); grey is written as one channel with
/// Pillow's luma weights where the format holds it; 16 bits where the format holds it (PNG, TIFF). ICC, EXIF and
/// XMP go with the image to PNG (the ICC profile in an iCCP chunk we add), JPEG, WebP (the ICC profile in an ICCP
/// chunk we add, <see cref="WebpContainer"/>) and TIFF; BMP and TGA hold none.
/// </summary>
public static class ImageEncoder
{
    public const int DefaultJpegQuality = 95;

    /// <summary>What an encode had to give up, for the caller to tell the user.</summary>
    public sealed record Outcome(bool AlphaComposited, bool DepthReduced);

    public static Outcome Encode(OutputImage img, EncodeOptions o, Stream destination)
    {
        bool alpha = img.Alpha != null && ImageFormats.HoldsAlpha(o.Format);
        bool composite = img.Alpha != null && !alpha;
        int wantDepth = o.BitDepth ?? (img.Rgb16 != null ? 16 : 8);
        bool deep = wantDepth == 16 && ImageFormats.Holds16Bit(o.Format);
        bool grey = img.Grey && ImageFormats.HoldsGrey(o.Format);

        // Samples in [0, 1] as floats whatever the source, so every combination goes through one path.
        int w = img.Width, h = img.Height, n = w * h;
        float[] colour = img.Rgb16?.Data ?? ColorFix.ToUnit(img.Rgb);
        float[]? a = img.Alpha?.Data;
        if (a != null && a.Length != n) throw new ArgumentException($"alpha plane {img.Alpha!.Width}x{img.Alpha.Height} does not match the image {w}x{h}");
        byte[] bytes = img.Rgb.Data;
        // The plain 8-bit cases keep the exact bytes (grey by Pillow's integer formula); the rest goes
        // through floats in [0, 1], whatever the source depth. One pixel function per depth serves every format.
        Func<int, Rgba64> px16 = i => Pixel16(colour, a, i, alpha, composite, grey);
        Func<int, Rgba32> px8 = img.Rgb16 == null && !composite
            ? i =>
            {
                byte r = bytes[i * 3], g = bytes[i * 3 + 1], b = bytes[i * 3 + 2], al = alpha ? Q8(a![i]) : (byte)255;
                if (!grey) return new Rgba32(r, g, b, al);
                byte l = PillowLuma(r, g, b);
                return new Rgba32(l, l, l, al);
            }
            : i => Pixel8(colour, a, i, alpha, composite, grey);
        byte[]? profile = img.Metadata?.IccProfile?.ToByteArray() is { Length: > 0 } p ? p : null;
        var outcome = new Outcome(composite, wantDepth == 16 && !deep);   // 16 bits asked for and not written
        if (o.Format == ImageFormat.Tiff)
        {
            // ImageSharp 2.1's TIFF encoder writes neither 16-bit nor alpha samples: ours writes every case.
            // Grey with alpha goes as RGBA with R = G = B (lossless): ImageSharp 2.1's TIFF decoder, ours too, reads
            // no 2-sample grey+alpha TIFF, and a result this tool cannot read back would be a poor output.
            bool oneChannel = grey && !alpha;
            var profiles = new TiffWriter.Profiles(img.Metadata?.ExifProfile, img.Metadata?.XmpProfile?.ToByteArray(), profile);
            TiffWriter.Write(destination, w, h, (oneChannel ? 1 : 3) + (alpha ? 1 : 0), deep ? 16 : 8,
                (y, row) => TiffRow(y, w, row, oneChannel, alpha, deep ? px16 : null, px8), profiles);
            return outcome;
        }
        using Image image = deep ? Build(w, h, px16) : Build(w, h, px8);
        if (img.Metadata != null)
        {
            image.Metadata.IccProfile = img.Metadata.IccProfile?.DeepClone();
            image.Metadata.ExifProfile = img.Metadata.ExifProfile?.DeepClone();
            image.Metadata.XmpProfile = img.Metadata.XmpProfile?.DeepClone();
        }
        if (o.Format == ImageFormat.Png && profile != null)
        {
            // ImageSharp 2.1 writes no iCCP chunk: encode, then insert it.
            var png = new MemoryStream();
            image.Save(png, Encoder(o, alpha, deep, grey));
            destination.Write(PngIccChunk.Insert(png.ToArray(), profile));
        }
        else if (o.Format == ImageFormat.Webp)
        {
            // ImageSharp 2.1 writes no ICCP chunk, and overstates the RIFF size of lossless files with metadata.
            var webp = new MemoryStream();
            image.Save(webp, Encoder(o, alpha, deep, grey));
            destination.Write(WebpContainer.Rewrite(webp.ToArray(), profile, w, h, alpha));
        }
        else image.Save(destination, Encoder(o, alpha, deep, grey));
        return outcome;
    }

    /// <summary>One TIFF row from the pixel function of the depth written: one grey sample (R, as grey pixels hold
    /// it three times) or RGB, then alpha; 16-bit samples little-endian.</summary>
    private static void TiffRow(int y, int w, Span<byte> row, bool grey, bool alpha, Func<int, Rgba64>? px16, Func<int, Rgba32> px8)
    {
        int k = 0;
        for (int x = 0, i = y * w; x < w; x++, i++)
        {
            if (px16 != null)
            {
                var p = px16(i);
                Put16(row, ref k, p.R);
                if (!grey) { Put16(row, ref k, p.G); Put16(row, ref k, p.B); }
                if (alpha) Put16(row, ref k, p.A);
            }
            else
            {
                var p = px8(i);
                row[k++] = p.R;
                if (!grey) { row[k++] = p.G; row[k++] = p.B; }
                if (alpha) row[k++] = p.A;
            }
        }
    }

    private static void Put16(Span<byte> row, ref int k, ushort v)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(row[k..], v);
        k += 2;
    }

    private static IImageEncoder Encoder(EncodeOptions o, bool alpha, bool deep, bool grey) => o.Format switch
    {
        ImageFormat.Png => new PngEncoder
        {
            ColorType = grey ? (alpha ? PngColorType.GrayscaleWithAlpha : PngColorType.Grayscale) : alpha ? PngColorType.RgbWithAlpha : PngColorType.Rgb,
            BitDepth = deep ? PngBitDepth.Bit16 : PngBitDepth.Bit8,
        },
        ImageFormat.Jpeg => new JpegEncoder { Quality = o.Quality ?? DefaultJpegQuality, ColorType = grey ? JpegColorType.Luminance : JpegColorType.YCbCrRatio444 },
        ImageFormat.Webp => o.Quality is int q
            ? new WebpEncoder { FileFormat = WebpFileFormatType.Lossy, Quality = q }
            : new WebpEncoder { FileFormat = WebpFileFormatType.Lossless },
        ImageFormat.Bmp => new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel24 },
        ImageFormat.Tga => new TgaEncoder { BitsPerPixel = TgaBitsPerPixel.Pixel24, Compression = TgaCompression.None },
        _ => throw new ArgumentOutOfRangeException(nameof(o)),
    };

    private static Image<TPixel> Build<TPixel>(int w, int h, Func<int, TPixel> pixel) where TPixel : unmanaged, IPixel<TPixel>
    {
        var pixels = new TPixel[(long)w * h];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = pixel(i);
        return Image.LoadPixelData<TPixel>(pixels, w, h);
    }

    /// <summary>Pillow's RGB to "L" conversion on bytes: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.</summary>
    public static byte PillowLuma(byte r, byte g, byte b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    /// <summary>Pillow's "L" conversion weights (ITU-R 601-2 luma): L = R*299/1000 + G*587/1000 + B*114/1000.</summary>
    private static float Luma(float r, float g, float b) => r * 0.299f + g * 0.587f + b * 0.114f;

    private static Rgba32 Pixel8(float[] c, float[]? a, int i, bool keepAlpha, bool composite, bool grey)
    {
        var (r, g, b, al) = Samples(c, a, i, keepAlpha, composite, grey);
        return new Rgba32(Q8(r), Q8(g), Q8(b), Q8(al));
    }

    private static Rgba64 Pixel16(float[] c, float[]? a, int i, bool keepAlpha, bool composite, bool grey)
    {
        var (r, g, b, al) = Samples(c, a, i, keepAlpha, composite, grey);
        return new Rgba64(Q16(r), Q16(g), Q16(b), Q16(al));
    }

    private static (float R, float G, float B, float A) Samples(float[] c, float[]? a, int i, bool keepAlpha, bool composite, bool grey)
    {
        float r = c[i * 3], g = c[i * 3 + 1], b = c[i * 3 + 2];
        float al = a == null ? 1f : Math.Clamp(a[i], 0f, 1f);
        if (composite)
        {
            // Over a white background: c*a + 1*(1-a).
            r = r * al + (1 - al); g = g * al + (1 - al); b = b * al + (1 - al);
        }
        if (grey) r = g = b = Luma(r, g, b);
        return (r, g, b, keepAlpha ? al : 1f);
    }

    private static byte Q8(float v) => (byte)Math.Round(Math.Clamp(v, 0f, 1f) * 255f, MidpointRounding.AwayFromZero);
    private static ushort Q16(float v) => (ushort)Math.Round(Math.Clamp(v, 0f, 1f) * 65535f, MidpointRounding.AwayFromZero);
}
