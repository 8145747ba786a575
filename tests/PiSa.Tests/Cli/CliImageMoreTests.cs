using System.Buffers.Binary;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff.Constants;
using SixLabors.ImageSharp.PixelFormats;
using static PiSa.Tests.Cli.CliImageTests;

namespace PiSa.Tests.Cli;

/// <summary>Issue 10, the parts of items 1, 4 and 8 the other CLI tests left untested (found auditing the issue
/// against the tests): 16-bit TIFF input, grey to JPEG and TIFF, alpha to WebP, JPEG --quality, -s, and
/// --dump-tensors into a missing folder; each through the `pisa` process on the tiny fixture model.</summary>
public sealed class CliImageMoreTests
{
    /// <summary>A baseline uncompressed little-endian RGB TIFF with 16 bits per sample (ImageSharp 2.1 cannot write one).</summary>
    private static byte[] Tiff16(Rgb48[] px, int w, int h)
    {
        int dataLen = px.Length * 6, bpsAt = 8 + dataLen, ifdAt = bpsAt + 6;
        (ushort Tag, ushort Type, uint Value)[] entries =
        [
            (256, 4, (uint)w), (257, 4, (uint)h), (258, 3, (uint)bpsAt), (259, 3, 1), (262, 3, 2), (273, 4, 8),
            (277, 3, 3), (278, 4, (uint)h), (279, 4, (uint)dataLen), (284, 3, 1),
        ];
        var f = new byte[ifdAt + 2 + 12 * entries.Length + 4];
        "II"u8.CopyTo(f);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(2), 42);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(4), (uint)ifdAt);
        for (int i = 0; i < px.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(8 + i * 6), px[i].R);
            BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(10 + i * 6), px[i].G);
            BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(12 + i * 6), px[i].B);
        }
        for (int c = 0; c < 3; c++) BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(bpsAt + 2 * c), 16);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(ifdAt), (ushort)entries.Length);
        for (int i = 0; i < entries.Length; i++)
        {
            var e = f.AsSpan(ifdAt + 2 + 12 * i);
            BinaryPrimitives.WriteUInt16LittleEndian(e, entries[i].Tag);
            BinaryPrimitives.WriteUInt16LittleEndian(e[2..], entries[i].Type);
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], 1);
            if (entries[i].Tag == 258) BinaryPrimitives.WriteUInt32LittleEndian(e[4..], 3);
            if (entries[i].Type == 3 && entries[i].Tag != 258) BinaryPrimitives.WriteUInt16LittleEndian(e[8..], (ushort)entries[i].Value);
            else BinaryPrimitives.WriteUInt32LittleEndian(e[8..], entries[i].Value);
        }
        return f;
    }

    [Fact]
    public void A_16_bit_tiff_input_runs_at_full_precision_like_the_same_samples_in_png()
    {
        using var dir = new TempDir();
        var src = Pixels<Rgb24>(Input("lq_a.png"));
        var px = src.Select((p, i) => new Rgb48((ushort)(p.R * 256 + i % 251), (ushort)(p.G * 256 + 17), (ushort)(p.B * 256 + 255 - i % 199))).ToArray();
        File.WriteAllBytes(dir.File("deep.tiff"), Tiff16(px, 20, 20));
        using (var img = Image.LoadPixelData<Rgb48>(px, 20, 20)) img.SaveAsPng(dir.File("deep.png"), new PngEncoder { BitDepth = PngBitDepth.Bit16 });
        Assert.Equal(px, Pixels<Rgb48>(dir.File("deep.tiff")));   // the hand-made file reads as written

        Ok(Upscale(dir.File("deep.tiff"), dir.File("from-tiff.png")));
        Ok(Upscale(dir.File("deep.png"), dir.File("from-png.png")));
        using (var o = Image.Load(dir.File("from-tiff.png"))) Assert.Equal(PngBitDepth.Bit16, o.Metadata.GetPngMetadata().BitDepth);
        Assert.Equal(Pixels<Rgb48>(dir.File("from-png.png")), Pixels<Rgb48>(dir.File("from-tiff.png")));
        // The high bytes alone give another result: the low bytes reached the model.
        using (var img = Image.LoadPixelData<Rgb48>(px.Select(p => new Rgb48((ushort)(p.R & 0xFF00), (ushort)(p.G & 0xFF00), (ushort)(p.B & 0xFF00))).ToArray(), 20, 20))
            img.SaveAsPng(dir.File("high.png"), new PngEncoder { BitDepth = PngBitDepth.Bit16 });
        Ok(Upscale(dir.File("high.png"), dir.File("from-high.png")));
        Assert.NotEqual(Pixels<Rgb48>(dir.File("from-high.png")), Pixels<Rgb48>(dir.File("from-tiff.png")));
    }

    [Fact]
    public void Grey_stays_grey_in_jpeg_and_tiff_and_alpha_is_kept_in_webp()
    {
        using var dir = new TempDir();
        using (var g = Image.Load<L8>(Input("lq_a.png"))) g.SaveAsPng(dir.File("grey.png"), new PngEncoder { ColorType = PngColorType.Grayscale });
        Ok(Upscale(dir.File("grey.png"), dir.File("grey.png.out.png")));
        Ok(Upscale(dir.File("grey.png"), dir.File("grey.jpg")));
        Ok(Upscale(dir.File("grey.png"), dir.File("grey.tiff")));
        using (var j = Image.Load(dir.File("grey.jpg"))) Assert.Equal(JpegColorType.Luminance, j.Metadata.GetJpegMetadata().ColorType);
        using (var t = Image.Load(dir.File("grey.tiff")))
            Assert.Equal(TiffPhotometricInterpretation.BlackIsZero, t.Frames.RootFrame.Metadata.GetTiffMetadata().PhotometricInterpretation);
        Assert.Equal(8, Image.Identify(dir.File("grey.tiff")).PixelType.BitsPerPixel);
        Assert.Equal(Pixels<L8>(dir.File("grey.png.out.png")), Pixels<L8>(dir.File("grey.tiff")));   // lossless: the same grey

        string rgba = dir.File("rgba.png");
        using (var img = Image.Load<Rgba32>(Input("lq_a.png")))
        {
            for (int y = 0; y < 20; y++) for (int x = 0; x < 20; x++) { var p = img[x, y]; p.A = (byte)(255 - x * 12); img[x, y] = p; }
            img.SaveAsPng(rgba, new PngEncoder { ColorType = PngColorType.RgbWithAlpha });
        }
        Ok(Upscale(rgba, dir.File("a.png")));
        var r = Ok(Upscale(rgba, dir.File("a.webp")));
        Assert.DoesNotContain("composited", r.Stderr);
        Assert.Equal(Pixels<Rgba32>(dir.File("a.png")), Pixels<Rgba32>(dir.File("a.webp")));   // lossless WebP keeps colour and alpha
        Assert.Contains(Pixels<Rgba32>(dir.File("a.webp")), p => p.A < 40);
    }

    [Fact]
    public void Jpeg_quality_scale_alias_and_a_dump_into_a_missing_folder()
    {
        using var dir = new TempDir();
        Ok([.. Upscale(Input("lq_a.png"), dir.File("q20.jpg")), "--quality", "20"]);
        Ok(Upscale(Input("lq_a.png"), dir.File("q95.jpg")));
        Assert.True(new FileInfo(dir.File("q20.jpg")).Length < new FileInfo(dir.File("q95.jpg")).Length);
        using (var q20 = Image.Load(dir.File("q20.jpg"))) Assert.InRange(q20.Metadata.GetJpegMetadata().Quality, 15, 25);

        // -s 2: half the x4 size (lq_a is 20x20; the enlarged path resizes back to 2x the input).
        Ok([.. Upscale(Input("lq_a.png"), dir.File("s2.png")), "-s", "2"]);
        Assert.Equal((40, 40), (Image.Identify(dir.File("s2.png")).Width, Image.Identify(dir.File("s2.png")).Height));

        // --dump-tensors into a folder that does not exist fails before the model loads (none is given here).
        PisaProcess.AssertOneLineError(PisaProcess.Run("upscale", Input("lq_a.png"), "-o", dir.File("o.png"), "--model", dir.File("no-model"),
            "--lora", dir.File("no.pkl"), "--dump-tensors", dir.File("missing/t.safetensors")), "does not exist");
        Assert.False(File.Exists(dir.File("o.png")));
    }
}
