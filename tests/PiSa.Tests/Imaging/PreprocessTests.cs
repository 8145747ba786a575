using PiSa.Engine;
using PiSa.Engine.Imaging;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Imaging;

public class PreprocessTests
{
    [Theory]
    // (w, h, upscale, process_size) -> sizes by test_pisasr.py's arithmetic, worked out by hand.
    [InlineData(100, 50, 4, 512, true, 1024, 512)]    // 128/50 = 2.56 -> 256x128 -> x4
    [InlineData(11, 15, 4, 64, true, 64, 80)]         // 16/11: int(16/11*11) = 16, int(21.8) = 21 -> 64x84 -> 64x80
    [InlineData(130, 200, 4, 512, false, 520, 800)]
    [InlineData(131, 129, 4, 512, false, 520, 512)]   // 524x516 -> LANCZOS to multiples of 8
    [InlineData(30, 30, 2, 64, true, 64, 64)]         // 64 // 2 = 32 > 30: scale 32/30 -> 32x32 -> x2
    public void Sizes_follow_the_official_arithmetic(int w, int h, int upscale, int processSize, bool flag, int mw, int mh)
    {
        var p = Preprocess.Run(PilResizeTests.RandomImage(w, h, 1), upscale, processSize);
        Assert.Equal(flag, p.ResizeFlag);
        Assert.Equal((mw, mh), (p.Source.Width, p.Source.Height));
        Assert.Equal(new[] { 1, 3, mh, mw }, p.ModelInput.Shape);
        Assert.Equal(flag ? (upscale * w, upscale * h) : (mw, mh), (p.OutputWidth, p.OutputHeight));
        var back = Preprocess.ResizeBack(p.Source, p);
        Assert.Equal((p.OutputWidth, p.OutputHeight), (back.Width, back.Height));
    }

    [Fact]
    public void Model_input_is_to_tensor_times_two_minus_one_in_nchw()
    {
        var img = new RgbImage(2, 1, [0, 128, 255, 1, 2, 3]);
        var t = Preprocess.ToModelInput(img);
        Assert.Equal(new[] { 1, 3, 1, 2 }, t.Shape);
        float F(byte b) => b / 255f * 2f - 1f;
        Assert.Equal(new[] { -1f, F(1), F(128), F(2), 1f, F(3) }, t.Data);
    }

    [Fact]
    public void Conversion_to_8_bit_truncates_and_clamps()
    {
        // x * 0.5 + 0.5 = v; byte = trunc(v * 255)
        float X(float v) => (v - 0.5f) * 2f;
        float[] data = [X(254.99f / 255f), -3f, 3f, float.NaN, X(0.5f), X(1.5f / 255f)];
        var img = Preprocess.ToImageTruncating(new HostTensor([1, 3, 1, 2], data));
        // NCHW [c][x]: R = (254.99, -3) G = (3, NaN) B = (127.5, 1.5) in 255 units
        Assert.Equal(new byte[] { 254, 255, 127, 0, 0, 1 }, img.Data);
    }

    [Fact]
    public void Bad_shapes_and_too_small_inputs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Preprocess.ToImageTruncating(new HostTensor(1, 4, 2, 2)));
        Assert.Throws<PisaException>(() => Preprocess.Run(PilResizeTests.RandomImage(7, 7, 1), 1, 0));
        Assert.Throws<PisaException>(() => Preprocess.Run(PilResizeTests.RandomImage(7, 7, 1), 0, 64));
    }

    [Fact]
    public void Without_resize_flag_nothing_is_resized_back()
    {
        var p = Preprocess.Run(PilResizeTests.RandomImage(40, 40, 2), 4, 64);
        Assert.False(p.ResizeFlag);
        Assert.Same(p.Source, Preprocess.ResizeBack(p.Source, p));
    }
}
