using PiSa.Engine.Imaging;

namespace PiSa.Tests.Imaging;

/// <summary>Colour fix against independent double-precision references written from the Python
/// (torch) formulation: explicit statistics for AdaIN, explicit replicate padding + dilated 3x3
/// convolution for the wavelet decomposition.</summary>
public class ColorFixTests
{
    private static RgbImage Random(int w, int h, int seed, int lo = 0, int hi = 256)
    {
        var rng = new Random(seed);
        var img = new RgbImage(w, h);
        for (int i = 0; i < img.Data.Length; i++) img.Data[i] = (byte)rng.Next(lo, hi);
        return img;
    }

    [Fact]
    public void AdaIn_matches_double_reference()
    {
        var target = Random(40, 24, 1);
        var source = Random(33, 17, 2, 40, 200);   // sizes may differ: only statistics are transferred
        var r = ColorFix.AdaIn(target, source);

        double[] Stats(RgbImage img, int c, out double std)
        {
            var v = Enumerable.Range(0, img.Width * img.Height).Select(i => img.Data[i * 3 + c] / 255.0).ToArray();
            double m = v.Average();
            std = Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1) + 1e-5);
            return [m];
        }
        for (int c = 0; c < 3; c++)
        {
            double tm = Stats(target, c, out double ts)[0], sm = Stats(source, c, out double ss)[0];
            for (int i = 0; i < target.Width * target.Height; i++)
            {
                double e = Math.Clamp((target.Data[i * 3 + c] / 255.0 - tm) / ts * ss + sm, 0, 1);
                Assert.True(Math.Abs(e - r.FinalHwc[i * 3 + c]) < 2e-6, $"pixel {i} c{c}: {r.FinalHwc[i * 3 + c]} vs {e}");
                Assert.Equal((byte)(r.FinalHwc[i * 3 + c] * 255f), r.Image.Data[i * 3 + c]);
            }
        }
    }

    [Fact]
    public void AdaIn_of_an_image_onto_itself_is_nearly_identity()
    {
        var img = Random(31, 19, 3);
        var r = ColorFix.AdaIn(img, img);
        for (int i = 0; i < img.Data.Length; i++)
        {
            Assert.True(Math.Abs(r.FinalHwc[i] - img.Data[i] / 255f) < 1e-6);
            Assert.InRange(img.Data[i] - r.Image.Data[i], 0, 1);   // truncation may lose one level, never gain
        }
    }

    [Fact]
    public void Wavelet_matches_padded_dilated_convolution_reference()
    {
        var target = Random(45, 37, 4);
        var source = Random(45, 37, 5);
        var r = ColorFix.Wavelet(target, source);
        var (tHigh, _) = ReferenceDecompose(target);
        var (_, sLow) = ReferenceDecompose(source);
        for (int i = 0; i < tHigh.Length; i++)
        {
            double e = Math.Clamp(tHigh[i] + sLow[i], 0, 1);
            Assert.True(Math.Abs(e - r.FinalHwc[i]) < 1e-5, $"value {i}: {r.FinalHwc[i]} vs {e}");
        }
    }

    [Fact]
    public void Wavelet_of_an_image_onto_itself_reconstructs_it()
    {
        // high + low telescopes back to the image.
        var img = Random(20, 50, 6);
        var r = ColorFix.Wavelet(img, img);
        for (int i = 0; i < img.Data.Length; i++) Assert.True(Math.Abs(r.FinalHwc[i] - img.Data[i] / 255f) < 1e-5);
    }

    [Fact]
    public void Wavelet_takes_the_sources_colour_cast()
    {
        // Source = target + 20 levels: the low band moves by exactly that (kernel sums to 1).
        var target = Random(24, 24, 7, 30, 200);
        var source = new RgbImage(24, 24, target.Data.Select(b => (byte)(b + 20)).ToArray());
        var r = ColorFix.Wavelet(target, source);
        for (int i = 0; i < target.Data.Length; i++)
            Assert.True(Math.Abs(r.FinalHwc[i] - (target.Data[i] + 20) / 255f) < 1e-5);
    }

    [Fact]
    public void None_passes_the_target_through()
    {
        var img = Random(7, 5, 8);
        var r = ColorFix.Apply(ColorFixMethod.None, img, Random(7, 5, 9));
        Assert.Equal(img.Data, r.Image.Data);
    }

    [Fact]
    public void Wavelet_needs_equal_sizes()
    {
        Assert.Throws<ArgumentException>(() => ColorFix.Wavelet(Random(8, 8, 1), Random(8, 9, 1)));
    }

    /// <summary>torch: pad(replicate, r) then conv2d(kernel, dilation r), 5 levels, in double.</summary>
    private static (double[] High, double[] Low) ReferenceDecompose(RgbImage img)
    {
        int w = img.Width, h = img.Height;
        double[] k = [1 / 16.0, 2 / 16.0, 1 / 16.0, 2 / 16.0, 4 / 16.0, 2 / 16.0, 1 / 16.0, 2 / 16.0, 1 / 16.0];
        var cur = img.Data.Select(b => b / 255.0).ToArray();
        var high = new double[cur.Length];
        for (int level = 0; level < 5; level++)
        {
            int r = 1 << level, pw = w + 2 * r, ph = h + 2 * r;
            var padded = new double[pw * ph * 3];
            for (int y = 0; y < ph; y++)
                for (int x = 0; x < pw; x++)
                    for (int c = 0; c < 3; c++)
                        padded[(y * pw + x) * 3 + c] = cur[(Math.Clamp(y - r, 0, h - 1) * w + Math.Clamp(x - r, 0, w - 1)) * 3 + c];
            var low = new double[cur.Length];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        double s = 0;
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++)
                                s += k[i * 3 + j] * padded[((y + i * r) * pw + x + j * r) * 3 + c];
                        low[(y * w + x) * 3 + c] = s;
                    }
            for (int i = 0; i < cur.Length; i++) high[i] += cur[i] - low[i];
            cur = low;
        }
        return (high, cur);
    }
}
