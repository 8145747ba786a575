using PiSa.Engine.Tensors;

namespace PiSa.Engine.Imaging;

/// <summary>The image-side results after the model: each stage kept for inspection and tests.</summary>
public sealed class PostprocessResult
{
    /// <summary>SPEC step 11: the decoded image as 8 bits (truncated), the colour-fix target.</summary>
    public required RgbImage PreColorFix { get; init; }
    /// <summary>SPEC step 12: the colour-fixed image, float HWC in [0, 1] and 8-bit.</summary>
    public required ColorFixResult ColorFixed { get; init; }
    /// <summary>SPEC step 13: what is saved (resized back to upscale x the original when resize_flag).</summary>
    public required RgbImage Output { get; init; }
}

/// <summary>SPEC steps 11-13 in the official order: 8-bit conversion, colour fix against the
/// preprocessed input, resize back.</summary>
public static class Postprocess
{
    /// <param name="decodedNchw">VAE output [1, 3, H, W] clamped to [-1, 1] (step 10).</param>
    /// <param name="pre">The preprocessing of the same image (colour-fix source, original size).</param>
    public static PostprocessResult Run(HostTensor decodedNchw, PreprocessResult pre, ColorFixMethod method)
    {
        var target = Preprocess.ToImageTruncating(decodedNchw);
        if (target.Width != pre.Source.Width || target.Height != pre.Source.Height)
            throw new ArgumentException(
                $"decoded image {target.Width}x{target.Height} does not match the preprocessed input {pre.Source.Width}x{pre.Source.Height}");
        var fixedUp = ColorFix.Apply(method, target, pre.Source);
        return new PostprocessResult
        {
            PreColorFix = target,
            ColorFixed = fixedUp,
            Output = Preprocess.ResizeBack(fixedUp.Image, pre),
        };
    }
}

/// <summary>SPEC steps 11-13 at full precision for 16-bit inputs: no 8-bit truncation before or after the
/// colour fix (which compares against the float preprocessed input), the float resize back.</summary>
public static class PostprocessFloat
{
    public static PlaneImage Run(HostTensor decodedNchw, PreprocessResult pre, ColorFixMethod method)
    {
        var source = pre.SourceUnit ?? throw new ArgumentException("the float postprocessing needs the float preprocessing");
        int[] s = decodedNchw.Shape;
        if (s.Length != 4 || s[0] != 1 || s[1] != 3 || s[2] != source.Height || s[3] != source.Width)
            throw new ArgumentException($"decoded image [{ShapeUtil.Format(s)}] does not match the preprocessed input {source.Width}x{source.Height}");
        int plane = source.Width * source.Height;
        var target = new float[3 * plane];
        float[] x = decodedNchw.Data;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                target[i * 3 + c] = Math.Clamp(x[c * plane + i] * 0.5f + 0.5f, 0f, 1f);
        var fixedUp = ColorFix.ApplyUnit(method, target, source.Data, source.Width, source.Height);
        for (int i = 0; i < fixedUp.Length; i++) fixedUp[i] = Math.Clamp(fixedUp[i], 0f, 1f);
        var back = Preprocess.ResizeBack(new PlaneImage(source.Width, source.Height, 3, fixedUp), pre);
        for (int i = 0; i < back.Data.Length; i++) back.Data[i] = Math.Clamp(back.Data[i], 0f, 1f);
        return back;
    }
}
