using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using PiSa.Engine;
using PiSa.Engine.Imaging;
using PiSa.Tests.Cli;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace PiSa.Tests.Imaging;

/// <summary>
/// Issue 12's image cases, as regression tests of the one decoder door (ImageDecoder): small or lying files are
/// refused from their structure before any pixel buffer is made, each in well under a second.
/// </summary>
public sealed class ImageBoundsTests
{
    private static byte[] Chunk(string type, byte[] data)
    {
        var c = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(c, data.Length);
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(c, 4);
        data.CopyTo(c, 8);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(8 + data.Length), Crc32(c.AsSpan(4, 4 + data.Length)));
        return c;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFF;
    }

    private static byte[] Png(int w, int h, byte depth, byte colorType, byte[] raw)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = depth; ihdr[9] = colorType;
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Fastest, leaveOpen: true)) zs.Write(raw);
        var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        ms.Write(Chunk("IHDR", ihdr));
        ms.Write(Chunk("IDAT", z.ToArray()));
        ms.Write(Chunk("IEND", []));
        return ms.ToArray();
    }

    /// <summary>A 1 KB PNG whose header says 16384x16384 RGBA at 16 bits (8 GB of pixels).</summary>
    internal static byte[] HugeRgba16Png() => Png(16384, 16384, 16, 6, new byte[800]);

    /// <summary>A valid 20x20 RGB PNG whose compressed data goes on to inflate to 256 MB more than the image needs.</summary>
    internal static byte[] InflatingPng()
    {
        var raw = new byte[20 * (1 + 60) + (256 << 20)];
        for (int i = 0; i < 20 * 61; i++) raw[i] = (byte)(i % 61 == 0 ? 0 : i * 7);
        return Png(20, 20, 8, 2, raw);
    }

    /// <summary>A small valid JPEG whose frame header is rewritten to declare 8000x8000 (64 megapixels).</summary>
    internal static byte[] LyingJpeg()
    {
        using var img = new Image<Rgb24>(16, 16, new Rgb24(90, 120, 200));
        var ms = new MemoryStream();
        img.SaveAsJpeg(ms);
        var b = ms.ToArray();
        for (int i = 2; i + 9 < b.Length; i++)
            if (b[i] == 0xFF && b[i + 1] is 0xC0 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(i + 5), 8000);
                BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(i + 7), 8000);
                return b;
            }
        throw new InvalidOperationException("no frame header");
    }

    /// <summary>A small valid GIF whose screen and image descriptor are rewritten to declare 8000x8000.</summary>
    internal static byte[] LyingGif()
    {
        using var img = new Image<Rgb24>(16, 16, new Rgb24(90, 120, 200));
        var ms = new MemoryStream();
        img.SaveAsGif(ms);
        var b = ms.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), 8000);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8), 8000);
        int d = Array.IndexOf(b, (byte)0x2C, 13);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(d + 5), 8000);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(d + 7), 8000);
        return b;
    }

    private static PisaException Refused(byte[] file, string name, string fragment)
    {
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<PisaException>(() => ImageDecoder.Decode(file, name));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"refusal took {clock.Elapsed}");
        Assert.Contains(name, e.Message);
        Assert.Contains(fragment, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void A_1kb_png_declaring_16384_squared_rgba16_is_refused_by_its_header()
    {
        var png = HugeRgba16Png();
        Assert.True(png.Length < 1100);
        Refused(png, "huge16.png", "megapixel limit");
    }

    [Fact]
    public void A_png_whose_data_inflates_past_its_header_is_refused_before_inflating()
    {
        var bomb = InflatingPng();
        Assert.True(bomb.Length < 4 << 20, $"{bomb.Length} bytes");   // about 1/100 of what it inflates to
        Refused(bomb, "bomb.png", "decompression bomb");
        // The same image without the extra data decodes: the check is about the excess, not the image.
        var raw = new byte[20 * 61];
        for (int i = 0; i < raw.Length; i++) raw[i] = (byte)(i % 61 == 0 ? 0 : i * 7);
        Assert.Equal(20, ImageDecoder.Decode(Png(20, 20, 8, 2, raw), "fine.png").Width);
    }

    [Fact]
    public void Jpeg_and_gif_headers_declaring_large_sizes_over_tiny_data_are_refused()
    {
        Refused(LyingJpeg(), "lying.jpg", "declares 8000x8000");
        Refused(LyingGif(), "lying.gif", "declares 8000x8000");
    }

    [Fact]
    public void A_decode_that_runs_past_its_time_bound_is_stopped_with_a_clear_error()
    {
        // A valid 1500x1500 noise PNG takes far longer than 1 ms to decode.
        var px = new Rgb24[1500 * 1500];
        var rnd = new Random(3);
        for (int i = 0; i < px.Length; i++) px[i] = new Rgb24((byte)rnd.Next(256), (byte)rnd.Next(256), (byte)rnd.Next(256));
        using var img = Image.LoadPixelData<Rgb24>(px, 1500, 1500);
        var ms = new MemoryStream();
        img.SaveAsPng(ms);
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<PisaException>(() => ImageDecoder.Decode(ms.ToArray(), "slow.png", TimeSpan.FromMilliseconds(1)));
        Assert.Contains("took longer than", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{clock.Elapsed}");
        // With the normal bound it decodes.
        Assert.Equal(1500, ImageDecoder.Decode(ms.ToArray(), "slow.png").Width);
    }

    [Fact]
    public void The_pisa_process_refuses_each_hostile_image_in_one_line_and_completes_the_good_one()
    {
        using var dir = new TempDir();
        string inputs = dir.File("in");
        Directory.CreateDirectory(inputs);
        File.WriteAllBytes(Path.Combine(inputs, "huge16.png"), HugeRgba16Png());
        File.WriteAllBytes(Path.Combine(inputs, "bomb.png"), InflatingPng());
        File.WriteAllBytes(Path.Combine(inputs, "lying.jpg"), LyingJpeg());
        File.WriteAllBytes(Path.Combine(inputs, "lying.gif"), LyingGif());
        File.Copy(CliImageTests.Input("lq_a.png"), Path.Combine(inputs, "good.png"));
        var r = PisaProcess.Run(CliImageTests.Upscale(inputs, dir.File("out")));
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(5, r.StderrLines.Length);   // four refusals and the summary
        foreach (var name in new[] { "huge16.png", "bomb.png", "lying.jpg", "lying.gif" })
            Assert.Single(r.StderrLines, l => l.StartsWith($"pisa: error: {name}: ", StringComparison.Ordinal));
        Assert.DoesNotContain("Exception", r.Stderr);
        Assert.True(File.Exists(Path.Combine(dir.File("out"), "good.png")));
    }
}
