using System.Diagnostics;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.Metadata.Profiles.Xmp;
using SixLabors.ImageSharp.PixelFormats;
using static PiSa.Tests.Cli.CliImageTests;

namespace PiSa.Tests.Cli;

/// <summary>
/// Issue 10, item 1, TIFF output of 16-bit and alpha results (our <c>TiffWriter</c>; ImageSharp 2.1's TIFF encoder
/// writes neither): through the `pisa` process on the tiny fixture model, each TIFF read back with ImageSharp's
/// decoder (depth, channels, values) against the PNG result of the same run, and by an independent reader (Debian's
/// GDAL and Pillow, <see cref="IndependentTiffReader"/>) where the machine has one.
/// </summary>
public sealed class CliTiffTests
{
    /// <summary>Bits per pixel as ImageSharp's decoder identifies the file (whether it holds alpha it does not say
    /// for TIFF: the alpha values are compared instead).</summary>
    private static int Bits(string path) => Image.Identify(path).PixelType.BitsPerPixel;

    /// <summary>lq_a.png (20x20) with every sample widened to 16 bits with a low byte of its own, and (when asked)
    /// an alpha ramp; grey when asked. Saved as PNG.</summary>
    private static string Input16(TempDir dir, string name, bool alpha, bool grey, bool deep = true)
    {
        var px = new Rgba64[400];
        using (var src = Image.Load<Rgb24>(Input("lq_a.png")))
            for (int i = 0; i < 400; i++)
            {
                var p = src[i % 20, i / 20];
                int x = i % 20, y = i / 20;
                px[i] = new Rgba64((ushort)(p.R * 256 + 77), (ushort)(p.G * 256 + 77), (ushort)(p.B * 256 + 77),
                    alpha ? (ushort)((x * 12 + y) * 256 + 5 * x) : ushort.MaxValue);
            }
        string path = dir.File(name);
        using var img = Image.LoadPixelData<Rgba64>(px, 20, 20);
        img.SaveAsPng(path, new PngEncoder
        {
            ColorType = grey ? (alpha ? PngColorType.GrayscaleWithAlpha : PngColorType.Grayscale) : alpha ? PngColorType.RgbWithAlpha : PngColorType.Rgb,
            BitDepth = deep ? PngBitDepth.Bit16 : PngBitDepth.Bit8,
        });
        return path;
    }

    [Fact]
    public void Sixteen_bit_results_are_written_to_tiff_at_16_bits_and_bit_depth_8_gives_8()
    {
        using var dir = new TempDir();
        string input = Input16(dir, "deep.png", alpha: false, grey: false);
        Ok(Upscale(input, dir.File("out.png")));
        var r = Ok(Upscale(input, dir.File("out.tiff")));
        Assert.DoesNotContain(r.StderrLines, l => l.Contains("8 bits per sample"));
        Assert.Equal(48, Bits(dir.File("out.tiff")));
        var tif = Pixels<Rgb48>(dir.File("out.tiff"));
        Assert.Equal(Pixels<Rgb48>(dir.File("out.png")), tif);
        Assert.Contains(tif, p => (p.R & 0xFF) != (p.R >> 8));   // 16 bits of their own, not 8 widened
        IndependentTiffReader.AssertReads(dir.File("out.tiff"), 3, 16, tif.SelectMany(p => new int[] { p.R, p.G, p.B }));

        // --bit-depth 8: the 16-bit result rounded, as the PNG at --bit-depth 8.
        Ok([.. Upscale(input, dir.File("o8.png")), "--bit-depth", "8"]);
        Ok([.. Upscale(input, dir.File("o8.tiff")), "--bit-depth", "8"]);
        Assert.Equal(24, Bits(dir.File("o8.tiff")));
        Assert.Equal(Pixels<Rgb24>(dir.File("o8.png")), Pixels<Rgb24>(dir.File("o8.tiff")));

        // Grey at 16 bits: one 16-bit sample, the PNG's grey.
        string grey = Input16(dir, "grey16.png", alpha: false, grey: true);
        Ok(Upscale(grey, dir.File("grey.png")));
        Ok(Upscale(grey, dir.File("grey.tiff")));
        Assert.Equal(16, Bits(dir.File("grey.tiff")));
        var greyTif = Pixels<L16>(dir.File("grey.tiff"));
        Assert.Equal(Pixels<L16>(dir.File("grey.png")), greyTif);
        IndependentTiffReader.AssertReads(dir.File("grey.tiff"), 1, 16, greyTif.Select(p => (int)p.PackedValue));

        // --bit-depth 16 on an 8-bit input writes 16 bits too.
        Ok([.. Upscale(Input("lq_a.png"), dir.File("asked.png")), "--bit-depth", "16"]);
        Ok([.. Upscale(Input("lq_a.png"), dir.File("asked.tiff")), "--bit-depth", "16"]);
        Assert.Equal(48, Bits(dir.File("asked.tiff")));
        Assert.Equal(Pixels<Rgb48>(dir.File("asked.png")), Pixels<Rgb48>(dir.File("asked.tiff")));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Alpha_results_keep_their_alpha_in_tiff(bool grey, bool deep)
    {
        using var dir = new TempDir();
        string input = Input16(dir, "alpha.png", alpha: true, grey, deep);
        Ok(Upscale(input, dir.File("out.png")));
        var r = Ok(Upscale(input, dir.File("out.tiff")));
        Assert.DoesNotContain(r.StderrLines, l => l.Contains("composited on white"));
        // Grey with alpha is written as RGBA with R = G = B: ImageSharp 2.1 (and so pisa) reads no grey+alpha TIFF.
        int samples = 4, bits = deep ? 16 : 8;
        Assert.Equal(samples * bits, Bits(dir.File("out.tiff")));
        // Colour and alpha exactly the PNG's (read both as RGBA at 16 bits: grey reads as R = G = B).
        var png = Pixels<Rgba64>(dir.File("out.png"));
        var tif = Pixels<Rgba64>(dir.File("out.tiff"));
        Assert.Equal(png, tif);
        Assert.Contains(png, p => p.A < 10000);   // alpha that matters, not all opaque
        Assert.Equal(!grey, png.Any(p => p.R != p.B));   // ... and colour that is not grey, for RGB
        IndependentTiffReader.AssertReads(dir.File("out.tiff"), samples, bits,
            tif.SelectMany(p => new int[] { p.R, p.G, p.B, p.A }.Select(v => deep ? v : v >> 8)));
    }

    [Fact]
    public void Icc_xmp_and_exif_with_its_sub_ifds_are_carried_to_tiff()
    {
        using var dir = new TempDir();
        var exif = new ExifProfile();
        exif.SetValue(ExifTag.Artist, "pisa test");                                   // IFD0
        exif.SetValue(ExifTag.DateTimeOriginal, "2026:12:01 12:00:00");              // EXIF sub-IFD
        exif.SetValue(ExifTag.ExposureTime, new Rational(1, 250));
        exif.SetValue(ExifTag.UserComment, new EncodedString(EncodedString.CharacterCode.ASCII, "pisa comment"));
        exif.SetValue(ExifTag.GPSLatitudeRef, "N");                                   // GPS sub-IFD
        exif.SetValue(ExifTag.GPSLatitude, [new Rational(48, 1), new Rational(51, 1), new Rational(2, 1)]);
        var xmp = MarkerXmp();
        var icc = MarkerIcc();
        string input = dir.File("meta.png");
        PiSa.Engine.Imaging.ImageIO.Save(new PiSa.Engine.Imaging.OutputImage
        {
            Rgb = PiSa.Engine.Imaging.ImageIO.Load(Input("lq_a.png")),
            Metadata = new SixLabors.ImageSharp.Metadata.ImageMetadata { ExifProfile = exif, XmpProfile = xmp, IccProfile = new(icc) },
        }, input, new PiSa.Engine.Imaging.EncodeOptions { Format = PiSa.Engine.Imaging.ImageFormat.Png });
        Ok(Upscale(input, dir.File("out.tiff")));
        using var o = Image.Load(dir.File("out.tiff"));
        var f = o.Frames.RootFrame.Metadata;
        Assert.Equal(icc, f.IccProfile?.ToByteArray());
        Assert.Contains("pisa-xmp-marker", System.Text.Encoding.UTF8.GetString(f.XmpProfile?.ToByteArray() ?? []));
        Assert.Equal("pisa test", f.ExifProfile?.GetValue(ExifTag.Artist)?.Value);
        Assert.Equal("2026:12:01 12:00:00", f.ExifProfile?.GetValue(ExifTag.DateTimeOriginal)?.Value);
        Assert.Equal(new Rational(1, 250), f.ExifProfile?.GetValue(ExifTag.ExposureTime)?.Value);
        Assert.Equal("pisa comment", f.ExifProfile?.GetValue(ExifTag.UserComment)?.Value.Text);
        Assert.Equal("N", f.ExifProfile?.GetValue(ExifTag.GPSLatitudeRef)?.Value);
        Assert.Equal(new Rational(51, 1), f.ExifProfile?.GetValue(ExifTag.GPSLatitude)?.Value?[1]);
        // Our own decoder lifts them onto the image, for any output format.
        Assert.Equal(icc, PiSa.Engine.Imaging.ImageDecoder.Load(dir.File("out.tiff")).Metadata?.IccProfile?.ToByteArray());

        var tags = IndependentTiffReader.Tags(dir.File("out.tiff"));
        if (tags == null) return;   // no independent reader here (said by the pixel tests' skip reason)
        Assert.Equal(Convert.ToHexString(icc), tags.Value.GetProperty("icc").GetString());
        Assert.Contains("pisa-xmp-marker", tags.Value.GetProperty("xmp").GetString());
        Assert.Equal("pisa test", tags.Value.GetProperty("artist").GetString());
        Assert.Equal("2026:12:01 12:00:00", tags.Value.GetProperty("dto").GetString());
        Assert.Equal(0.004, tags.Value.GetProperty("exposure").GetDouble(), 1e-9);
        Assert.Equal("N", tags.Value.GetProperty("gpsref").GetString());
    }

    [Fact]
    public void A_tiff_inputs_resolution_is_carried_to_the_tiff_output()
    {
        using var dir = new TempDir();
        string input = dir.File("dpi.tiff");
        using (var img = Image.Load<Rgb24>(Input("lq_a.png")))
        {
            img.Metadata.HorizontalResolution = 300;
            img.Metadata.VerticalResolution = 300;
            img.Metadata.ResolutionUnits = SixLabors.ImageSharp.Metadata.PixelResolutionUnit.PixelsPerInch;
            img.SaveAsTiff(input);
        }
        Ok(Upscale(input, dir.File("out.tiff")));
        using var o = Image.Load(dir.File("out.tiff"));
        Assert.Equal(new Rational(300, 1), o.Frames.RootFrame.Metadata.ExifProfile?.GetValue(ExifTag.XResolution)?.Value);
        Assert.Equal(new Rational(300, 1), o.Frames.RootFrame.Metadata.ExifProfile?.GetValue(ExifTag.YResolution)?.Value);
        Assert.Equal(300, o.Metadata.HorizontalResolution);
        if (IndependentTiffReader.Tags(dir.File("out.tiff")) is { } tags)
        {
            Assert.Equal(300.0, tags.GetProperty("xres").GetDouble());
            Assert.Equal(2, tags.GetProperty("unit").GetInt32());   // inches
        }
    }
}

/// <summary>
/// Reads a TIFF with Debian's GDAL (samples at full depth) and Pillow (tags), the libtiff-based readers of
/// <c>/usr/bin/python3</c>, so our TIFF files are checked by more than the ImageSharp decoder. Where that python has
/// neither (a bare CI image), the check says so on stderr once and is skipped.
/// </summary>
internal static class IndependentTiffReader
{
    private const string Python = "/usr/bin/python3";

    private static readonly Lazy<bool> Available = new(() =>
    {
        bool ok = File.Exists(Python) && Run("import PIL, numpy\nfrom osgeo import gdal", "").Code == 0;
        if (!ok) Console.Error.WriteLine($"CliTiffTests: no GDAL and Pillow under {Python}: TIFF output checked by ImageSharp only");
        return ok;
    });

    /// <summary>Asserts the independent reader sees <paramref name="samples"/> bands of <paramref name="bits"/>
    /// bits holding exactly <paramref name="expected"/> (interleaved).</summary>
    public static void AssertReads(string path, int samples, int bits, IEnumerable<int> expected)
    {
        if (!Available.Value) return;
        var (code, output) = Run("""
            import sys, json, numpy
            from osgeo import gdal
            ds = gdal.Open(sys.argv[1])
            a = ds.ReadAsArray()
            if a.ndim == 2: a = a[None]
            print(json.dumps({"bands": ds.RasterCount, "dtype": str(a.dtype), "values": numpy.moveaxis(a, 0, -1).reshape(-1).tolist()}))
            """, path);
        Assert.True(code == 0, output);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(samples, doc.RootElement.GetProperty("bands").GetInt32());
        Assert.Equal(bits == 16 ? "uint16" : "uint8", doc.RootElement.GetProperty("dtype").GetString());
        Assert.Equal(expected.ToArray(), doc.RootElement.GetProperty("values").EnumerateArray().Select(v => v.GetInt32()).ToArray());
    }

    /// <summary>The tags Pillow reads from IFD0 and the EXIF and GPS sub-IFDs, or null without a reader.</summary>
    public static JsonElement? Tags(string path)
    {
        if (!Available.Value) return null;
        var (code, output) = Run("""
            import sys, json
            from PIL import Image
            im = Image.open(sys.argv[1])
            t = im.tag_v2
            e = im.getexif()
            sub = e.get_ifd(0x8769)
            gps = e.get_ifd(0x8825)
            print(json.dumps({"icc": bytes(t[34675]).hex().upper() if 34675 in t else None, "xmp": bytes(t[700]).decode() if 700 in t else None,
                "artist": t.get(315), "xres": float(t[282]) if 282 in t else None, "unit": t.get(296),
                "dto": sub.get(0x9003), "exposure": float(sub[0x829A]) if 0x829A in sub else None, "gpsref": gps.get(1)}))
            """, path);
        Assert.True(code == 0, output);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private static (int Code, string Output) Run(string script, string arg)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        if (arg != "") psi.ArgumentList.Add(arg);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }
}
