using System.Buffers.Binary;
using System.Text;
using PiSa.Engine;
using PiSa.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace PiSa.Tests.Imaging;

public sealed class ImageIOTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pisa-imageio-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static RgbImage Smooth(int w, int h)
    {
        var img = new RgbImage(w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int p = (y * w + x) * 3;
                img.Data[p] = (byte)(x * 255 / Math.Max(1, w - 1));
                img.Data[p + 1] = (byte)(y * 255 / Math.Max(1, h - 1));
                img.Data[p + 2] = (byte)((x + y) * 127 / Math.Max(1, w + h - 2) + 64);
            }
        return img;
    }

    [Theory]
    [InlineData("a.png")]
    [InlineData("a.bmp")]
    [InlineData("a.tga")]
    [InlineData("A.PNG")]
    public void Lossless_formats_round_trip_exactly(string name)
    {
        var img = PilResizeTests.RandomImage(37, 23, 5);
        ImageIO.Save(img, PathOf(name));
        var back = ImageIO.Load(PathOf(name));
        Assert.Equal((37, 23), (back.Width, back.Height));
        Assert.Equal(img.Data, back.Data);
    }

    [Fact]
    public void Png_chunks_carry_valid_crcs()
    {
        // Decoders differ in whether they check CRCs, so check them here with a bitwise CRC-32 (other tools do verify them).
        ImageIO.Save(PilResizeTests.RandomImage(50, 30, 4), PathOf("c.png"));
        byte[] f = File.ReadAllBytes(PathOf("c.png"));
        int pos = 8, chunks = 0;
        while (pos < f.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(f.AsSpan(pos));
            uint crc = 0xFFFFFFFF;
            foreach (byte b in f.AsSpan(pos + 4, len + 4))
            {
                crc ^= b;
                for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (uint)-(int)(crc & 1));
            }
            Assert.Equal(~crc, BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(pos + 8 + len)));
            pos += 12 + len;
            chunks++;
        }
        Assert.Equal(f.Length, pos);
        Assert.True(chunks >= 3, $"{chunks} chunks");   // IHDR, IDAT..., IEND
        Assert.Equal("IHDR", Encoding.ASCII.GetString(f, 12, 4));
        Assert.Equal(new byte[] { 0xAE, 0x42, 0x60, 0x82 }, f[^4..]);   // the well-known IEND CRC
    }

    [Theory]
    [InlineData("a.jpg")]
    [InlineData("a.jpeg")]
    public void Jpeg_round_trips_closely(string name)
    {
        var img = Smooth(64, 48);
        ImageIO.Save(img, PathOf(name));
        var bytes = File.ReadAllBytes(PathOf(name));
        Assert.Equal(0xFF, bytes[0]);
        Assert.Equal(0xD8, bytes[1]);
        var back = ImageIO.Load(PathOf(name));
        double mae = 0;
        for (int i = 0; i < img.Data.Length; i++) mae += Math.Abs(img.Data[i] - back.Data[i]);
        mae /= img.Data.Length;
        Assert.True(mae < 2.0, $"JPEG q95 mean abs error {mae}");
    }

    [Fact]
    public void Grey_and_rgba_inputs_become_rgb_like_pillow_convert()
    {
        var grey = new byte[] { 0, 50, 100, 150, 200, 250 };
        using (var gi = Image.LoadPixelData<L8>(grey, 3, 2)) gi.SaveAsPng(PathOf("g.png"));
        var g = ImageIO.Load(PathOf("g.png"));
        for (int i = 0; i < 6; i++)
            Assert.Equal(new[] { grey[i], grey[i], grey[i] }, g.Data.AsSpan(i * 3, 3).ToArray());

        var rgba = new byte[] { 10, 20, 30, 0, 40, 50, 60, 128 };
        using (var ci = Image.LoadPixelData<Rgba32>(rgba, 2, 1)) ci.SaveAsPng(PathOf("c.png"));
        Assert.Equal(new byte[] { 10, 20, 30, 40, 50, 60 }, ImageIO.Load(PathOf("c.png")).Data);   // alpha dropped, not composited
    }

    [Fact]
    public void Missing_empty_garbage_and_truncated_files_give_one_line_errors_naming_the_file()
    {
        AssertPisa(() => ImageIO.Load(PathOf("missing.png")), "missing.png");

        File.WriteAllBytes(PathOf("empty.png"), []);
        AssertPisa(() => ImageIO.Load(PathOf("empty.png")), "empty.png");

        File.WriteAllText(PathOf("text.png"), "this is not an image at all, just some text");
        AssertPisa(() => ImageIO.Load(PathOf("text.png")), "text.png");

        ImageIO.Save(PilResizeTests.RandomImage(64, 64, 2), PathOf("full.png"));
        byte[] full = File.ReadAllBytes(PathOf("full.png"));
        foreach (int keep in new[] { 8, 30, full.Length / 2, full.Length - 20 })
        {
            File.WriteAllBytes(PathOf("cut.png"), full.AsSpan(0, keep).ToArray());
            AssertPisa(() => ImageIO.Load(PathOf("cut.png")), "cut.png");
        }

        // Decoders zero-fill what is missing in some formats; the loader must still refuse them.
        foreach (string ext in new[] { "bmp", "tga", "jpg" })
        {
            ImageIO.Save(ext == "jpg" ? Smooth(64, 64) : PilResizeTests.RandomImage(64, 64, 2), PathOf("full." + ext));
            byte[] whole = File.ReadAllBytes(PathOf("full." + ext));
            foreach (int keep in new[] { whole.Length / 3, whole.Length - 2 })
            {
                File.WriteAllBytes(PathOf("cut." + ext), whole.AsSpan(0, keep).ToArray());
                AssertPisa(() => ImageIO.Load(PathOf("cut." + ext)), "cut." + ext);
            }
        }
    }

    [Theory]
    [InlineData(20000, 20000)]
    [InlineData(70000, 10)]
    [InlineData(1 << 30, 1 << 30)]
    public void Huge_headers_are_refused_before_decoding(int w, int h)
    {
        // A PNG signature and IHDR only: the header alone must be enough to refuse it.
        var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[4 + 4 + 13 + 4];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, 13);
        Encoding.ASCII.GetBytes("IHDR").CopyTo(ihdr, 4);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(8), w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(12), h);
        ihdr[16] = 8; ihdr[17] = 2;   // 8-bit RGB
        ms.Write(ihdr);
        File.WriteAllBytes(PathOf("huge.png"), ms.ToArray());
        var e = AssertPisa(() => ImageIO.Load(PathOf("huge.png")), "huge.png");
        Assert.True(e.Message.Contains("limit") || e.Message.Contains("readable"), e.Message);
    }

    [Fact]
    public void Save_replaces_an_existing_file_and_leaves_no_temporary()
    {
        string path = PathOf("out.png");
        File.WriteAllText(path, "old");
        var img = PilResizeTests.RandomImage(9, 5, 8);
        ImageIO.Save(img, path);
        Assert.Equal(img.Data, ImageIO.Load(path).Data);
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir));
    }

    [Fact]
    public void Failed_save_leaves_no_partial_file()
    {
        // The target is a folder: the final rename fails after encoding.
        string target = PathOf("taken.png");
        Directory.CreateDirectory(target);
        AssertPisa(() => ImageIO.Save(PilResizeTests.RandomImage(9, 5, 8), target), "taken.png");
        Assert.Empty(Directory.GetFiles(_dir));
        Assert.True(Directory.Exists(target));
    }

    [Fact]
    public void Bad_extension_and_missing_folder_are_user_errors()
    {
        var img = PilResizeTests.RandomImage(4, 4, 1);
        AssertPisa(() => ImageIO.Save(img, PathOf("x.gif")), "x.gif");
        AssertPisa(() => ImageIO.Save(img, PathOf("x")), "x");
        AssertPisa(() => ImageIO.Save(img, Path.Combine(_dir, "no", "such", "x.png")), "x.png");
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    private static PisaException AssertPisa(Action act, string mustMention)
    {
        var e = Assert.Throws<PisaException>(act);
        Assert.Contains(mustMention, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }
}
