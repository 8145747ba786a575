using PiSa.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.Metadata.Profiles.Xmp;
using SixLabors.ImageSharp.PixelFormats;

namespace PiSa.Tests.Cli;

/// <summary>Issue 10, item 1: images as people have them (formats, alpha, grey, 16-bit, EXIF, metadata), through the
/// `pisa` process on the tiny fixture model.</summary>
public sealed class CliImageTests
{
    internal static string Sd => Path.Combine(FixturePaths.Tiny, "sd");
    internal static string Lora => Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl");
    internal static string Input(string name) => Path.Combine(FixturePaths.Tiny, "inputs", name);

    internal static string[] Upscale(string input, string output, params string[] extra) =>
        ["upscale", input, "-o", output, "--model", Sd, "--lora", Lora, "--process-size", "64", "--device", "cpu", .. extra];

    internal static PisaProcess.Result Ok(params string[] args)
    {
        var r = PisaProcess.Run(args);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Stderr}");
        return r;
    }

    /// <summary>An image file's pixels, row-major, in pixel format T (the CLI image tests' one reader).</summary>
    internal static T[] Pixels<T>(string path) where T : unmanaged, IPixel<T>
    {
        using var img = Image.Load<T>(path);
        var px = new T[img.Width * img.Height];
        img.CopyPixelDataTo(px);
        return px;
    }

    internal static Rgba32[] Pixels(string path) => Pixels<Rgba32>(path);

    /// <summary>An XMP packet whose dc:format is "pisa-xmp-marker", to find in an output's metadata.</summary>
    internal static XmpProfile MarkerXmp() => new(System.Text.Encoding.UTF8.GetBytes(
            "<?xpacket begin=\"\"?><x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description xmlns:dc=\"http://purl.org/dc/elements/1.1/\" dc:format=\"pisa-xmp-marker\"/></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"));

    /// <summary>A minimal ICC v2 display profile header (no tags), with a marker byte in its reserved area.</summary>
    internal static byte[] MarkerIcc()
    {
        var icc = new byte[132];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(icc, 132);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(icc.AsSpan(8), 0x02100000);
        System.Text.Encoding.ASCII.GetBytes("mntrRGB XYZ ").CopyTo(icc, 12);
        System.Text.Encoding.ASCII.GetBytes("acsp").CopyTo(icc, 36);
        icc[100] = 0x5A;
        return icc;
    }

    [Fact]
    public void Every_format_is_read_and_written_and_gif_becomes_png()
    {
        using var dir = new TempDir();
        string inputs = dir.File("in"), outputs = dir.File("out");
        Directory.CreateDirectory(inputs);
        using (var img = Image.Load<Rgb24>(Input("lq_a.png")))
        {
            img.SaveAsJpeg(Path.Combine(inputs, "a.jpg"));
            img.SaveAsWebp(Path.Combine(inputs, "b.webp"), new SixLabors.ImageSharp.Formats.Webp.WebpEncoder { FileFormat = SixLabors.ImageSharp.Formats.Webp.WebpFileFormatType.Lossless });
            img.SaveAsTiff(Path.Combine(inputs, "c.tiff"));
            img.SaveAsBmp(Path.Combine(inputs, "d.bmp"));
            img.SaveAsTga(Path.Combine(inputs, "e.tga"));
            img.SaveAsGif(Path.Combine(inputs, "f.gif"));
            img.SaveAsPng(Path.Combine(inputs, "g.png"));
        }
        Ok(Upscale(inputs, outputs));
        foreach (var name in new[] { "a.jpg", "b.webp", "c.tiff", "d.bmp", "e.tga", "f.png", "g.png" })
        {
            var info = Image.Identify(Path.Combine(outputs, name));
            Assert.NotNull(info);
            Assert.Equal((80, 80), (info.Width, info.Height));
        }
        // Lossless formats carry exactly the PNG's result.
        var png = Pixels(Path.Combine(outputs, "g.png"));
        Assert.Equal(png, Pixels(Path.Combine(outputs, "b.webp")));
        Assert.Equal(png, Pixels(Path.Combine(outputs, "d.bmp")));
        Assert.Equal(png, Pixels(Path.Combine(outputs, "c.tiff")));

        // -f overrides the extension for a folder; --quality makes WebP lossy.
        string webp = dir.File("webp");
        Ok([.. Upscale(Path.Combine(inputs, "g.png"), webp + "/"), "-f", "WEBP", "--quality", "60"]);
        Assert.Equal("Webp", Image.DetectFormat(Path.Combine(webp, "g.webp"))?.Name, StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public void Alpha_is_kept_resized_like_the_rgb_path_and_composited_on_white_for_jpeg()
    {
        using var dir = new TempDir();
        string input = dir.File("rgba.png");
        using (var rgb = Image.Load<Rgba32>(Input("lq_a.png")))
        {
            for (int y = 0; y < 20; y++)
                for (int x = 0; x < 20; x++)
                {
                    var p = rgb[x, y];
                    p.A = (byte)(x * 12 + y);
                    rgb[x, y] = p;
                }
            rgb.SaveAsPng(input, new PngEncoder { ColorType = PngColorType.RgbWithAlpha });
        }
        Ok(Upscale(input, dir.File("out.png")));
        Ok(Upscale(Input("lq_a.png"), dir.File("plain.png")));
        var withAlpha = Pixels(dir.File("out.png"));
        var plain = Pixels(dir.File("plain.png"));
        // The colour is exactly the run without alpha; the alpha is the input's, bicubic to 80x80.
        Assert.Equal(plain.Select(p => (p.R, p.G, p.B)), withAlpha.Select(p => (p.R, p.G, p.B)));
        var alphaIn = new float[400];
        for (int i = 0; i < 400; i++) alphaIn[i] = (byte)((i % 20) * 12 + i / 20) / 255f;
        var want = PilResizeFloat.Resize(new PlaneImage(20, 20, 1, alphaIn), 80, 80, ResampleFilter.Bicubic);
        for (int i = 0; i < want.Data.Length; i++)
            Assert.Equal((byte)Math.Round(Math.Clamp(want.Data[i], 0, 1) * 255, MidpointRounding.AwayFromZero), withAlpha[i].A);
        Assert.Contains(withAlpha, p => p.A < 40);

        var r = Ok(Upscale(input, dir.File("out.jpg")));
        Assert.Single(r.StderrLines, l => l.Contains("composited on white"));
    }

    [Fact]
    public void Grey_input_comes_out_grey_unless_keep_rgb()
    {
        using var dir = new TempDir();
        string input = dir.File("grey.png");
        using (var g = Image.Load<L8>(Input("lq_a.png"))) g.SaveAsPng(input, new PngEncoder { ColorType = PngColorType.Grayscale });
        Ok(Upscale(input, dir.File("grey_out.png")));
        Ok([.. Upscale(input, dir.File("rgb_out.png")), "--keep-rgb"]);
        using var grey = Image.Load(dir.File("grey_out.png"));
        Assert.Equal(PngColorType.Grayscale, grey.Metadata.GetPngMetadata().ColorType);
        using var rgb = Image.Load(dir.File("rgb_out.png"));
        Assert.Equal(PngColorType.Rgb, rgb.Metadata.GetPngMetadata().ColorType);
        // The grey result is Pillow's "L" conversion of the RGB result.
        var l = Pixels(dir.File("grey_out.png"));
        var c = Pixels(dir.File("rgb_out.png"));
        for (int i = 0; i < l.Length; i++) Assert.Equal(ImageEncoder.PillowLuma(c[i].R, c[i].G, c[i].B), l[i].R);
    }

    [Fact]
    public void Sixteen_bit_input_keeps_its_low_bits_and_comes_out_16_bit()
    {
        using var dir = new TempDir();
        using var src = Image.Load<Rgb24>(Input("lq_a.png"));
        string Write(string name, int low)
        {
            var px = new Rgb48[400];
            for (int i = 0; i < 400; i++)
            {
                var p = src[i % 20, i / 20];
                px[i] = new Rgb48((ushort)(p.R * 256 + low), (ushort)(p.G * 256 + low), (ushort)(p.B * 256 + low));
            }
            using var img = Image.LoadPixelData<Rgb48>(px, 20, 20);
            string path = dir.File(name);
            img.SaveAsPng(path, new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.Rgb });
            return path;
        }
        // Same high bytes, different low bytes: 8-bit truncation would make the two runs identical.
        Ok(Upscale(Write("low0.png", 0), dir.File("o0.png")));
        Ok(Upscale(Write("low255.png", 255), dir.File("o255.png")));
        using var o0 = Image.Load<Rgb48>(dir.File("o0.png"));
        using var o255 = Image.Load<Rgb48>(dir.File("o255.png"));
        Assert.Equal(PngBitDepth.Bit16, o0.Metadata.GetPngMetadata().BitDepth);
        Assert.NotEqual(o0[40, 40], o255[40, 40]);
        // Not 8-bit samples widened: some low bytes differ from the high bytes.
        bool deep = false;
        for (int y = 0; y < 80 && !deep; y++) for (int x = 0; x < 80 && !deep; x++) deep = (o0[x, y].R & 0xFF) != (o0[x, y].R >> 8);
        Assert.True(deep);

        Ok([.. Upscale(dir.File("low0.png"), dir.File("o8.png")), "--bit-depth", "8"]);
        using var o8 = Image.Load(dir.File("o8.png"));
        Assert.Equal(PngBitDepth.Bit8, o8.Metadata.GetPngMetadata().BitDepth);
    }

    [Fact]
    public void Exif_orientation_is_applied_and_reset_and_icc_exif_xmp_are_carried()
    {
        using var dir = new TempDir();
        string input = dir.File("rotated.png");
        var exif = new ExifProfile();
        exif.SetValue(ExifTag.Orientation, (ushort)6);   // display rotated 90 degrees clockwise
        exif.SetValue(ExifTag.Artist, "pisa test");
        var xmp = MarkerXmp();
        var icc = MarkerIcc();
        var meta = new SixLabors.ImageSharp.Metadata.ImageMetadata { ExifProfile = exif, XmpProfile = xmp, IccProfile = new SixLabors.ImageSharp.Metadata.Profiles.Icc.IccProfile(icc) };
        ImageIO.Save(new OutputImage { Rgb = ImageIO.Load(Input("lq_b.png")), Metadata = meta }, input, new EncodeOptions { Format = ImageFormat.Png });   // 16x28
        // Every format that stores them: PNG, JPEG, WebP (lossless, and lossy with --quality), TIFF; then a TIFF
        // input (its profiles sit on ImageSharp's first frame) into PNG.
        foreach (var (from, name, extra) in new[] { (input, "out.png", ""), (input, "out.jpg", ""), (input, "out.webp", ""), (input, "lossy.webp", "90"),
            (input, "out.tiff", ""), (dir.File("out.tiff"), "from-tiff.png", "") })
        {
            Ok([.. Upscale(from, dir.File(name)), .. extra == "" ? Array.Empty<string>() : ["--quality", extra]]);
            using var o = Image.Load(dir.File(name));
            var (oExif, oXmp) = name.EndsWith(".tiff") ? (o.Frames.RootFrame.Metadata.ExifProfile, o.Frames.RootFrame.Metadata.XmpProfile) : (o.Metadata.ExifProfile, o.Metadata.XmpProfile);
            bool twice = from != input;   // x4 of the x4 result
            Assert.Equal(twice ? (448, 256) : (112, 64), (o.Width, o.Height));   // 28x16 upright, x4
            Assert.Equal((ushort)1, oExif?.GetValue(ExifTag.Orientation)?.Value);
            Assert.Equal("pisa test", oExif?.GetValue(ExifTag.Artist)?.Value);
            Assert.Contains("pisa-xmp-marker", System.Text.Encoding.UTF8.GetString(oXmp?.ToByteArray() ?? []));
            Assert.Equal(icc, ImageDecoder.Load(dir.File(name)).Metadata?.IccProfile?.ToByteArray());
            if (name.EndsWith(".webp")) AssertWebpContainer(File.ReadAllBytes(dir.File(name)), icc);
            // The TIFF input's layout tags (its strip offsets, its size) describe that file, not this one.
            if (twice) Assert.Null(oExif?.GetValue(ExifTag.ImageWidth));
        }
    }

    /// <summary>The WebP container as its specification has it, read from the bytes (not through ImageSharp): the
    /// RIFF size is the file's, VP8X comes first with the ICC, EXIF and XMP flags set, and ICCP right after it
    /// holds the profile.</summary>
    private static void AssertWebpContainer(byte[] f, byte[] icc)
    {
        Assert.Equal(f.Length - 8, (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(4)));
        var chunks = new List<(string Id, int At, int Size)>();
        for (int p = 12; p < f.Length;)
        {
            int size = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(p + 4));
            chunks.Add((System.Text.Encoding.ASCII.GetString(f, p, 4), p + 8, size));
            p += 8 + size + (size & 1);
        }
        Assert.Equal("VP8X", chunks[0].Id);
        Assert.Equal(0x20 | 0x08 | 0x04, f[chunks[0].At] & (0x20 | 0x08 | 0x04));
        Assert.Equal("ICCP", chunks[1].Id);
        Assert.Equal(icc, f.AsSpan(chunks[1].At, chunks[1].Size).ToArray());
        Assert.Contains(chunks, c => c.Id == "EXIF");
        Assert.Contains(chunks, c => c.Id == "XMP ");
    }
}
