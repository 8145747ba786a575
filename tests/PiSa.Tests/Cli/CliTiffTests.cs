using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Formats.Tiff.Constants;
using SixLabors.ImageSharp.PixelFormats;

namespace PiSa.Tests.Cli;

/// <summary>
/// Issue 10, item 1, TIFF output of 16-bit and alpha results: ImageSharp 2.1.13's TIFF encoder writes 8 bits per
/// sample and no extra samples whatever it is asked (its Bit16/Bit48 fall back to 24 bits, there is no RGBA
/// setting), so the nearest it can write is written, 8-bit and composited on white, with one notice each. Read
/// back: depth, channels and values against the PNG results of the same runs.
/// </summary>
public sealed class CliTiffTests
{
    private static Rgba32[] Pixels(string path)
    {
        using var img = Image.Load<Rgba32>(path);
        var px = new Rgba32[img.Width * img.Height];
        img.CopyPixelDataTo(px);
        return px;
    }

    private static (int Bits, bool Alpha, TiffFrameMetadata Tiff) Read(string path)
    {
        var info = Image.Identify(path);
        using var img = Image.Load(path);
        return (info.PixelType.BitsPerPixel, info.PixelType.AlphaRepresentation is not (null or PixelAlphaRepresentation.None),
            img.Frames.RootFrame.Metadata.GetTiffMetadata());
    }

    [Fact]
    public void Sixteen_bit_results_are_written_to_tiff_at_8_bits_with_a_notice()
    {
        using var dir = new TempDir();
        var px = new Rgb48[400];
        using (var src = Image.Load<Rgb24>(CliImageTests.Input("lq_a.png")))
            for (int i = 0; i < 400; i++)
            {
                var p = src[i % 20, i / 20];
                px[i] = new Rgb48((ushort)(p.R * 256 + 77), (ushort)(p.G * 256 + 77), (ushort)(p.B * 256 + 77));
            }
        string input = dir.File("deep.png");
        using (var img = Image.LoadPixelData<Rgb48>(px, 20, 20)) img.SaveAsPng(input, new PngEncoder { BitDepth = PngBitDepth.Bit16 });

        var r = CliImageTests.Ok(CliImageTests.Upscale(input, dir.File("out.tiff")));
        Assert.Single(r.StderrLines, l => l.Contains("TIFF is written at 8 bits per sample"));
        var (bits, alpha, tiff) = Read(dir.File("out.tiff"));
        Assert.Equal(24, bits);
        Assert.False(alpha);
        Assert.Equal(TiffPhotometricInterpretation.Rgb, tiff.PhotometricInterpretation);
        // The values are the 16-bit result rounded to 8 bits: what --bit-depth 8 writes to PNG.
        CliImageTests.Ok([.. CliImageTests.Upscale(input, dir.File("o8.png")), "--bit-depth", "8"]);
        Assert.Equal(Pixels(dir.File("o8.png")), Pixels(dir.File("out.tiff")));

        // --bit-depth 16 on an 8-bit input asks for 16 bits too: the same notice.
        var r16 = CliImageTests.Ok([.. CliImageTests.Upscale(CliImageTests.Input("lq_a.png"), dir.File("asked.tiff")), "--bit-depth", "16"]);
        Assert.Single(r16.StderrLines, l => l.Contains("TIFF is written at 8 bits per sample"));
        Assert.Equal(24, Read(dir.File("asked.tiff")).Bits);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Alpha_results_are_composited_on_white_in_tiff_with_a_notice(bool grey)
    {
        using var dir = new TempDir();
        string input = dir.File("alpha.png");
        using (var img = Image.Load<Rgba32>(CliImageTests.Input("lq_a.png")))
        {
            for (int y = 0; y < 20; y++)
                for (int x = 0; x < 20; x++)
                {
                    var p = img[x, y];
                    p.A = (byte)(x * 12 + y);
                    img[x, y] = p;
                }
            img.SaveAsPng(input, new PngEncoder { ColorType = grey ? PngColorType.GrayscaleWithAlpha : PngColorType.RgbWithAlpha });
        }
        CliImageTests.Ok(CliImageTests.Upscale(input, dir.File("out.png")));
        var r = CliImageTests.Ok(CliImageTests.Upscale(input, dir.File("out.tiff")));
        Assert.Single(r.StderrLines, l => l.Contains("TIFF is written without alpha") && l.Contains("composited on white"));

        var (bits, alpha, tiff) = Read(dir.File("out.tiff"));
        Assert.Equal(grey ? 8 : 24, bits);
        Assert.False(alpha);
        Assert.Equal(grey ? TiffPhotometricInterpretation.BlackIsZero : TiffPhotometricInterpretation.Rgb, tiff.PhotometricInterpretation);
        // Over white: c*a + 255*(1 - a), from the PNG's colour and alpha (each rounded to 8 bits there, so within 1).
        var png = Pixels(dir.File("out.png"));
        var tif = Pixels(dir.File("out.tiff"));
        Assert.Equal(png.Length, tif.Length);
        int worst = 0;
        for (int i = 0; i < png.Length; i++)
        {
            float a = png[i].A / 255f;
            foreach (var (c, t) in new[] { (png[i].R, tif[i].R), (png[i].G, tif[i].G), (png[i].B, tif[i].B) })
                worst = Math.Max(worst, Math.Abs((int)MathF.Round(c * a + 255 * (1 - a)) - t));
        }
        Assert.True(worst <= 1, $"largest difference to the composite: {worst} levels");
        Assert.Contains(png, p => p.A < 40);   // the composite was tested where it matters
    }
}
