using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Imaging;

/// <summary>The image-side steps of every pisa-tiny case against the official Python outputs
/// (Pillow 9.4, torchvision 0.14): preprocessing, 8-bit conversion, AdaIN, resize back, PNG.</summary>
public class ImagingGoldenTests
{
    public static IEnumerable<object[]> Cases => GoldenCase.Names;

    [Theory]
    [MemberData(nameof(Cases))]
    public void Preprocess_matches_source_and_model_input(string name)
    {
        var c = GoldenCase.Get(name);
        using var t = SafetensorsFile.Open(c.ExpectedTensors);
        var p = Preprocess.Run(ImageIO.Load(c.Input), c.Upscale, c.ProcessSize);

        Assert.Equal(c.ResizeFlag, p.ResizeFlag);
        Assert.Equal((c.ModelWidth, c.ModelHeight), (p.Source.Width, p.Source.Height));
        Assert.Equal((c.OutputWidth, c.OutputHeight), (p.OutputWidth, p.OutputHeight));
        Assert.Equal(t.Shape("source_u8"), new[] { p.Source.Height, p.Source.Width, 3 });
        AssertBytesEqual(t.U8("source_u8"), p.Source.Data, p.Source.Width, "source_u8", maxDiff: 0);

        Assert.Equal(t.Shape("input_image"), p.ModelInput.Shape);
        float[] expected = t.F32("input_image");
        for (int i = 0; i < expected.Length; i++)
            if (expected[i] != p.ModelInput.Data[i])
                Assert.Fail($"input_image[{i}] = {p.ModelInput.Data[i]}, expected {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decoded_to_8bit_truncates_like_ToPILImage(string name)
    {
        using var t = SafetensorsFile.Open(GoldenCase.Get(name).ExpectedTensors);
        var decoded = new HostTensor(t.Shape("decoded"), t.F32("decoded"));
        var img = Preprocess.ToImageTruncating(decoded);
        AssertBytesEqual(t.U8("pre_colorfix_u8"), img.Data, img.Width, "pre_colorfix_u8", maxDiff: 0);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AdaIn_and_resize_back_match_final_and_output(string name)
    {
        var c = GoldenCase.Get(name);
        Assert.Equal(ColorFixMethod.AdaIn, c.Options.ColorFix);
        using var t = SafetensorsFile.Open(c.ExpectedTensors);
        int[] hwc = t.Shape("pre_colorfix_u8");
        var target = new RgbImage(hwc[1], hwc[0], t.U8("pre_colorfix_u8"));
        var source = new RgbImage(hwc[1], hwc[0], t.U8("source_u8"));

        var fixedUp = ColorFix.AdaIn(target, source);
        float[] final = t.F32("final");
        Assert.Equal(final.Length, fixedUp.FinalHwc.Length);
        float worst = 0;
        for (int i = 0; i < final.Length; i++) worst = Math.Max(worst, Math.Abs(final[i] - fixedUp.FinalHwc[i]));
        // Measured: 1 ulp (1.2e-7) on pisa-tiny; the brief allows 1e-5.
        Assert.True(worst <= 1e-6f, $"final max abs error {worst}");

        // The official flow: colour fix, then (resize_flag only) BICUBIC back to upscale x the original size.
        var meta = new PreprocessResult
        {
            Source = source, ModelInput = new HostTensor(1), ResizeFlag = c.ResizeFlag,
            OriginalWidth = c.OutputWidth / c.Upscale, OriginalHeight = c.OutputHeight / c.Upscale, Upscale = c.Upscale,
        };
        var output = Preprocess.ResizeBack(fixedUp.Image, meta);
        Assert.Equal(t.Shape("output_u8"), new[] { output.Height, output.Width, 3 });
        // Exact on pisa-tiny; one level allowed because a 1-ulp difference in `final` can flip a truncation.
        AssertBytesEqual(t.U8("output_u8"), output.Data, output.Width, "output_u8", maxDiff: 1);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Whole_image_side_from_input_file_and_decoded_gives_the_saved_png(string name)
    {
        var c = GoldenCase.Get(name);
        using var t = SafetensorsFile.Open(c.ExpectedTensors);
        var pre = Preprocess.Run(ImageIO.Load(c.Input), c.Upscale, c.ProcessSize);
        var post = Postprocess.Run(new HostTensor(t.Shape("decoded"), t.F32("decoded")), pre, ColorFixMethod.AdaIn);
        AssertBytesEqual(t.U8("pre_colorfix_u8"), post.PreColorFix.Data, post.PreColorFix.Width, "pre_colorfix_u8", maxDiff: 0);
        var png = ImageIO.Load(c.ExpectedPng);
        Assert.Equal((png.Width, png.Height), (post.Output.Width, post.Output.Height));
        AssertBytesEqual(png.Data, post.Output.Data, png.Width, "saved png", maxDiff: 1);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Expected_png_decodes_to_output_u8_and_our_png_round_trips(string name)
    {
        var c = GoldenCase.Get(name);
        using var t = SafetensorsFile.Open(c.ExpectedTensors);
        byte[] output = t.U8("output_u8");
        var png = ImageIO.Load(c.ExpectedPng);
        Assert.Equal((c.OutputWidth, c.OutputHeight), (png.Width, png.Height));
        AssertBytesEqual(output, png.Data, png.Width, "expected png", maxDiff: 0);

        string dir = Directory.CreateTempSubdirectory("pisa-imaging-").FullName;
        try
        {
            string path = Path.Combine(dir, "out.png");
            ImageIO.Save(png, path);
            var back = ImageIO.Load(path);
            Assert.Equal(png.Data, back.Data);
            Assert.Single(Directory.GetFiles(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    internal static void AssertBytesEqual(byte[] expected, byte[] actual, int width, string what, int maxDiff)
    {
        Assert.Equal(expected.Length, actual.Length);
        int worst = 0, worstAt = -1, over = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int d = Math.Abs(expected[i] - actual[i]);
            if (d > maxDiff) over++;
            if (d > worst) { worst = d; worstAt = i; }
        }
        if (over > 0)
        {
            int px = worstAt / 3;
            Assert.Fail($"{what}: {over} values differ by more than {maxDiff}; worst {worst} at x={px % width} y={px / width} c={worstAt % 3} " +
                        $"(expected {expected[worstAt]}, got {actual[worstAt]})");
        }
    }
}
