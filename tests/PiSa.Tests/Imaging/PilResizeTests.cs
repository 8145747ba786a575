using PiSa.Engine.Imaging;

namespace PiSa.Tests.Imaging;

/// <summary>
/// The resize against known Pillow 9.4 outputs: the expected pixel values below are those Pillow's own
/// accuracy tests (Tests/test_image_resample.py, TestImagingCoreResampleAccuracy and friends) assert for
/// its 8-bit path, so they check our fixed-point arithmetic independently of the PiSA fixtures.
/// </summary>
public class PilResizeTests
{
    /// <summary>Two dark and two bright quadrants: top-left and bottom-right = color, the others 255 - color.</summary>
    private static RgbImage Quadrants(int w, int h, byte color)
    {
        var img = new RgbImage(w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                bool dark = (x < w / 2) == (y < h / 2);
                byte v = dark ? color : (byte)(255 - color);
                img.Data[(y * w + x) * 3] = img.Data[(y * w + x) * 3 + 1] = img.Data[(y * w + x) * 3 + 2] = v;
            }
        return img;
    }

    /// <summary>Expected image from its top-left quarter, using the pattern's symmetries: point
    /// symmetric about the centre, and inverted (255 - v) under a horizontal or vertical mirror.</summary>
    private static byte[,] FromQuarter(string hex, int w, int h)
    {
        var vals = hex.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => Convert.ToByte(s, 16)).ToArray();
        var e = new byte[h, w];
        int qw = w / 2, qh = h / 2;
        Assert.Equal(qw * qh, vals.Length);
        for (int y = 0; y < qh; y++)
            for (int x = 0; x < qw; x++)
            {
                byte v = vals[y * qw + x];
                e[y, x] = v;
                e[h - 1 - y, w - 1 - x] = v;
                e[h - 1 - y, x] = (byte)(255 - v);
                e[y, w - 1 - x] = (byte)(255 - v);
            }
        return e;
    }

    [Theory]
    [InlineData("reduce", ResampleFilter.Box, 8, 4, "e1 e1 e1 e1")]
    [InlineData("reduce", ResampleFilter.Bilinear, 8, 4, "e1 c9 c9 b7")]
    [InlineData("reduce", ResampleFilter.Hamming, 8, 4, "e1 da da d3")]
    [InlineData("reduce", ResampleFilter.Bicubic, 12, 6, "e1 e3 d4 e3 e5 d6 d4 d6 c9")]
    [InlineData("reduce", ResampleFilter.Lanczos, 16, 8, "e1 e0 e4 d7 e0 df e3 d6 e4 e3 e7 da d7 d6 d9 ce")]
    [InlineData("enlarge", ResampleFilter.Box, 2, 4, "e1 e1 e1 e1")]
    [InlineData("enlarge", ResampleFilter.Bilinear, 2, 4, "e1 b0 b0 98")]
    [InlineData("enlarge", ResampleFilter.Hamming, 2, 4, "e1 d2 d2 c5")]
    [InlineData("enlarge", ResampleFilter.Bicubic, 4, 8, "e1 e5 ee b9 e5 e9 f3 bc ee f3 fd c1 b9 bc c1 a2")]
    [InlineData("enlarge", ResampleFilter.Lanczos, 6, 12,
        "e1 e0 db ed f5 b8 e0 df da ec f3 b7 db db d6 e7 ee b5 ed ec e6 fb ff bf f5 f4 ee ff ff c4 b8 b7 b4 bf c4 a0")]
    public void Matches_pillow_accuracy_samples(string kind, ResampleFilter filter, int inSize, int outSize, string quarter)
    {
        _ = kind;
        var result = PilResize.Resize(Quadrants(inSize, inSize, 0xE1), outSize, outSize, filter);
        var expected = FromQuarter(quarter, outSize, outSize);
        for (int y = 0; y < outSize; y++)
            for (int x = 0; x < outSize; x++)
                for (int c = 0; c < 3; c++)
                    Assert.True(expected[y, x] == result.Data[(y * outSize + x) * 3 + c],
                        $"{filter} {inSize}->{outSize}: pixel ({x},{y}) c{c} = {result.Data[(y * outSize + x) * 3 + c]:x2}, Pillow gives {expected[y, x]:x2}");
    }

    [Fact]
    public void Box_enlarge_keeps_colour()
    {
        var img = Constant(8, 8, 0x16, 0x88, 0xFF);
        AssertConstant(PilResize.Resize(img, 100, 100, ResampleFilter.Box), 0x16, 0x88, 0xFF);
    }

    [Fact]
    public void Lanczos_transposing_resize_keeps_constant_colour()
    {
        AssertConstant(PilResize.Resize(Constant(512, 9, 0, 64, 255), 9, 512, ResampleFilter.Lanczos), 0, 64, 255);
    }

    [Fact]
    public void Bicubic_large_reduction_keeps_constant_colour()
    {
        AssertConstant(PilResize.Resize(Constant(1280, 1280, 0x20, 0x40, 0x60), 256, 256, ResampleFilter.Bicubic), 0x20, 0x40, 0x60);
    }

    [Fact]
    public void Bicubic_extreme_reduction_has_correct_coefficients()
    {
        // A 400000-pixel row, left half 254: the middle of 5 output pixels straddles the edge -> 127.
        for (int size = 400000; size < 400010; size += 2)
        {
            var img = new RgbImage(size, 1);
            for (int x = 0; x < size / 2; x++) img.Data[x * 3] = img.Data[x * 3 + 1] = img.Data[x * 3 + 2] = 254;
            var r = PilResize.Resize(img, 5, 1, ResampleFilter.Bicubic);
            Assert.Equal(127, r.Data[2 * 3]);
        }
    }

    [Theory]
    [InlineData(ResampleFilter.Nearest)]
    [InlineData(ResampleFilter.Box)]
    [InlineData(ResampleFilter.Bilinear)]
    [InlineData(ResampleFilter.Hamming)]
    [InlineData(ResampleFilter.Bicubic)]
    [InlineData(ResampleFilter.Lanczos)]
    public void Constant_images_stay_constant_and_sizes_are_right(ResampleFilter filter)
    {
        var rng = new Random(11);
        foreach (var (w, h, ow, oh) in new[] { (1, 1, 7, 3), (5, 9, 5, 30), (37, 21, 148, 84), (148, 84, 144, 80), (301, 7, 13, 1), (64, 64, 63, 65) })
        {
            byte r = (byte)rng.Next(256), g = (byte)rng.Next(256), b = (byte)rng.Next(256);
            var out1 = PilResize.Resize(Constant(w, h, r, g, b), ow, oh, filter);
            Assert.Equal((ow, oh), (out1.Width, out1.Height));
            AssertConstant(out1, r, g, b);
        }
    }

    [Theory]
    [InlineData(ResampleFilter.Bilinear)]
    [InlineData(ResampleFilter.Bicubic)]
    [InlineData(ResampleFilter.Lanczos)]
    public void Mirrored_input_gives_mirrored_output(ResampleFilter filter)
    {
        foreach (var (w, h, ow, oh) in new[] { (23, 18, 92, 72), (92, 72, 88, 72), (21, 84, 21, 80), (40, 30, 17, 11) })
        {
            var img = RandomImage(w, h, seed: w * 1000 + h);
            var a = PilResize.Resize(img, ow, oh, filter);
            var b = PilResize.Resize(MirrorX(img), ow, oh, filter);
            Assert.Equal(a.Data, MirrorX(b).Data);
        }
    }

    [Fact]
    public void Same_size_returns_an_equal_copy()
    {
        var img = RandomImage(13, 7, 3);
        var r = PilResize.Resize(img, 13, 7, ResampleFilter.Lanczos);
        Assert.NotSame(img, r);
        Assert.NotSame(img.Data, r.Data);
        Assert.Equal(img.Data, r.Data);
    }

    [Fact]
    public void One_axis_resize_leaves_the_other_axis_untouched()
    {
        // Only the horizontal pass runs: every row is resampled independently.
        var img = RandomImage(92, 5, 9);
        var whole = PilResize.Resize(img, 88, 5, ResampleFilter.Lanczos);
        for (int y = 0; y < 5; y++)
        {
            var row = new RgbImage(92, 1, img.Data.AsSpan(y * 92 * 3, 92 * 3).ToArray());
            var r = PilResize.Resize(row, 88, 1, ResampleFilter.Lanczos);
            Assert.Equal(r.Data, whole.Data.AsSpan(y * 88 * 3, 88 * 3).ToArray());
        }
    }

    [Fact]
    public void Bilinear_two_to_one_rounds_half_up()
    {
        // Weights 1/2, 1/2 in fixed point: (0 + 255) / 2 = 127.5 -> 128 with Pillow's +1/2 rounding.
        var img = new RgbImage(2, 1, [0, 0, 0, 255, 255, 255]);
        Assert.Equal(new byte[] { 128, 128, 128 }, PilResize.Resize(img, 1, 1, ResampleFilter.Bilinear).Data);
    }

    [Fact]
    public void Nearest_picks_pillow_source_pixels()
    {
        var img = RandomImage(6, 4, 5);
        var up = PilResize.Resize(img, 24, 16, ResampleFilter.Nearest);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 24; x++)
                Assert.Equal(Pixel(img, x / 4, y / 4), Pixel(up, x, y));
        var down = PilResize.Resize(img, 3, 2, ResampleFilter.Nearest);   // centres 1, 3, 5 and 1, 3
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++)
                Assert.Equal(Pixel(img, 2 * x + 1, 2 * y + 1), Pixel(down, x, y));
    }

    [Fact]
    public void Rejects_empty_target()
    {
        Assert.Throws<ArgumentException>(() => PilResize.Resize(RandomImage(4, 4, 1), 0, 4, ResampleFilter.Bicubic));
    }

    internal static RgbImage RandomImage(int w, int h, int seed)
    {
        var img = new RgbImage(w, h);
        new Random(seed).NextBytes(img.Data);
        return img;
    }

    private static RgbImage Constant(int w, int h, byte r, byte g, byte b)
    {
        var img = new RgbImage(w, h);
        for (int i = 0; i < w * h; i++) { img.Data[i * 3] = r; img.Data[i * 3 + 1] = g; img.Data[i * 3 + 2] = b; }
        return img;
    }

    private static void AssertConstant(RgbImage img, byte r, byte g, byte b)
    {
        for (int i = 0; i < img.Width * img.Height; i++)
            if (img.Data[i * 3] != r || img.Data[i * 3 + 1] != g || img.Data[i * 3 + 2] != b)
                Assert.Fail($"pixel {i % img.Width},{i / img.Width} = ({img.Data[i * 3]}, {img.Data[i * 3 + 1]}, {img.Data[i * 3 + 2]}), expected ({r}, {g}, {b})");
    }

    private static RgbImage MirrorX(RgbImage img)
    {
        var m = new RgbImage(img.Width, img.Height);
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x < img.Width; x++)
                for (int c = 0; c < 3; c++)
                    m.Data[(y * img.Width + img.Width - 1 - x) * 3 + c] = img.Data[(y * img.Width + x) * 3 + c];
        return m;
    }

    private static (byte, byte, byte) Pixel(RgbImage img, int x, int y)
    {
        int p = (y * img.Width + x) * 3;
        return (img.Data[p], img.Data[p + 1], img.Data[p + 2]);
    }
}
