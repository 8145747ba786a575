using PiSa.Engine.Tensors;

namespace PiSa.Engine.Imaging;

/// <summary>What <see cref="Preprocess.Run"/> produced, and what the final stage needs to undo it.</summary>
public sealed class PreprocessResult
{
    /// <summary>The preprocessed 8-bit image (SPEC step 4): the colour-fix source.</summary>
    public required RgbImage Source { get; init; }
    /// <summary>The same at full precision ([0, 1] floats) when the input was 16-bit; null on the 8-bit path.</summary>
    public PlaneImage? SourceUnit { get; init; }
    /// <summary>Model input [1, 3, H, W], to_tensor * 2 - 1, in [-1, 1] (SPEC step 5).</summary>
    public required HostTensor ModelInput { get; init; }
    /// <summary>True when the input was first enlarged because a side was below process_size / upscale.</summary>
    public required bool ResizeFlag { get; init; }
    public required int OriginalWidth { get; init; }
    public required int OriginalHeight { get; init; }
    public required int Upscale { get; init; }

    /// <summary>Size of the saved image: upscale x the original when <see cref="ResizeFlag"/>, else the model size.</summary>
    public int OutputWidth => ResizeFlag ? Upscale * OriginalWidth : Source.Width;
    public int OutputHeight => ResizeFlag ? Upscale * OriginalHeight : Source.Height;
}

/// <summary>
/// The image-side steps of test_pisasr.py around the model: steps 2-5 (enlarge small inputs, x upscale
/// BICUBIC, LANCZOS down to a multiple of 8, to tensor) and the final 8-bit conversion and resize back
/// (steps 11 and 13), all with Pillow/torchvision semantics.
/// </summary>
public static class Preprocess
{
    /// <summary>The sizes of steps 2-4 for an input of w0 x h0: one truth for the 8-bit and the float paths.</summary>
    internal readonly record struct SizePlan(bool ResizeFlag, int EnlargedWidth, int EnlargedHeight, int UpWidth, int UpHeight, int Width8, int Height8);

    internal static SizePlan Plan(int w0, int h0, int upscale, int processSize)
    {
        if (upscale < 1) throw new PisaException($"upscale must be at least 1 (got {upscale})");
        if (processSize < 0) throw new PisaException($"process size must not be negative (got {processSize})");
        if (w0 < 1 || h0 < 1) throw new PisaException($"input {w0}x{h0} has no pixels");
        // Python: `process_size // upscale` (integer), then a float scale and int() truncation of the sizes.
        int minSide = processSize / upscale;
        bool resizeFlag = w0 < minSide || h0 < minSide;
        long ew = w0, eh = h0;
        if (resizeFlag)
        {
            double scale = (double)minSide / Math.Min(w0, h0);
            ew = Math.Max(1, (long)(scale * w0));
            eh = Math.Max(1, (long)(scale * h0));
        }
        long upW = ew * upscale, upH = eh * upscale;
        if (ew > int.MaxValue || eh > int.MaxValue || upW > int.MaxValue || upH > int.MaxValue || upW * upH * 3 > Array.MaxLength)
            throw new PisaException($"input {w0}x{h0} is too large for x{upscale} upscaling{(resizeFlag ? $" after its enlargement to {ew}x{eh} (a side is below --process-size/upscale = {minSide})" : "")}");
        long w8 = upW - upW % 8, h8 = upH - upH % 8;
        if (w8 < 8 || h8 < 8)
            throw new PisaException($"input {w0}x{h0} is too small: x{upscale} gives {upW}x{upH}, below 8 pixels on a side");
        return new SizePlan(resizeFlag, (int)ew, (int)eh, (int)upW, (int)upH, (int)w8, (int)h8);
    }

    public static PreprocessResult Run(RgbImage input, int upscale, int processSize)
    {
        ArgumentNullException.ThrowIfNull(input);
        var plan = Plan(input.Width, input.Height, upscale, processSize);
        RgbImage img = input;
        if (plan.ResizeFlag) img = PilResize.Resize(img, plan.EnlargedWidth, plan.EnlargedHeight, ResampleFilter.Bicubic);
        img = PilResize.Resize(img, plan.UpWidth, plan.UpHeight, ResampleFilter.Bicubic);
        img = PilResize.Resize(img, plan.Width8, plan.Height8, ResampleFilter.Lanczos);
        return new PreprocessResult
        {
            Source = img,
            ModelInput = ToModelInput(img),
            ResizeFlag = plan.ResizeFlag,
            OriginalWidth = input.Width,
            OriginalHeight = input.Height,
            Upscale = upscale,
        };
    }

    /// <summary>Steps 2-5 at full precision (16-bit inputs): the same sizes and filters on floats (Pillow's 32-bit
    /// path), the model input taken from the floats without rounding to 8 bits.</summary>
    public static PreprocessResult RunFloat(PlaneImage input, int upscale, int processSize)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Channels != 3) throw new ArgumentException("the float preprocessing takes an RGB plane image");
        var plan = Plan(input.Width, input.Height, upscale, processSize);
        PlaneImage img = input;
        if (plan.ResizeFlag) img = PilResizeFloat.Resize(img, plan.EnlargedWidth, plan.EnlargedHeight, ResampleFilter.Bicubic);
        img = PilResizeFloat.Resize(img, plan.UpWidth, plan.UpHeight, ResampleFilter.Bicubic);
        img = PilResizeFloat.Resize(img, plan.Width8, plan.Height8, ResampleFilter.Lanczos);
        var unit = img.Data;
        for (int i = 0; i < unit.Length; i++) unit[i] = Math.Clamp(unit[i], 0f, 1f);
        int plane = img.Width * img.Height;
        var x = new float[3 * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                x[c * plane + i] = unit[i * 3 + c] * 2f - 1f;
        return new PreprocessResult
        {
            Source = QuantizeRounding(img),
            SourceUnit = img,
            ModelInput = new HostTensor([1, 3, img.Height, img.Width], x),
            ResizeFlag = plan.ResizeFlag,
            OriginalWidth = input.Width,
            OriginalHeight = input.Height,
            Upscale = upscale,
        };
    }

    /// <summary>A [0, 1] RGB plane image to 8 bits, rounding (for display and dumps of the float path).</summary>
    public static RgbImage QuantizeRounding(PlaneImage img)
    {
        var rgb = new RgbImage(img.Width, img.Height);
        for (int i = 0; i < rgb.Data.Length; i++)
            rgb.Data[i] = (byte)Math.Round(Math.Clamp(img.Data[i], 0f, 1f) * 255f, MidpointRounding.AwayFromZero);
        return rgb;
    }

    /// <summary>torchvision to_tensor (byte / 255 in float32, CHW) then * 2 - 1, as [1, 3, H, W].</summary>
    public static HostTensor ToModelInput(RgbImage img)
    {
        int plane = img.Width * img.Height;
        var data = new float[3 * plane];
        byte[] s = img.Data;
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                data[c * plane + i] = s[i * 3 + c] / 255f * 2f - 1f;
        return new HostTensor([1, 3, img.Height, img.Width], data);
    }

    /// <summary>
    /// SPEC step 11: clamp(x * 0.5 + 0.5, 0, 1) then torchvision ToPILImage on a float tensor, which is
    /// <c>pic.mul(255).byte()</c>: truncation, not rounding. Input [1, 3, H, W] (or [3, H, W]) in [-1, 1].
    /// </summary>
    public static RgbImage ToImageTruncating(HostTensor decodedNchw)
    {
        ArgumentNullException.ThrowIfNull(decodedNchw);
        int[] s = decodedNchw.Shape;
        bool ok = (s.Length == 4 && s[0] == 1 && s[1] == 3) || (s.Length == 3 && s[0] == 3);
        if (!ok) throw new ArgumentException($"decoded image must be [1, 3, H, W], got [{ShapeUtil.Format(s)}]");
        int h = s[^2], w = s[^1];
        int plane = w * h;
        var img = new RgbImage(w, h);
        float[] x = decodedNchw.Data;
        byte[] d = img.Data;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                d[i * 3 + c] = UnitToByteTruncating(x[c * plane + i] * 0.5f + 0.5f);
        return img;
    }

    /// <summary>clamp to [0, 1] then <c>mul(255).byte()</c>; NaN (which torch.clamp passes through) gives 0.</summary>
    public static byte UnitToByteTruncating(float v)
    {
        if (!(v > 0f)) return 0;           // also NaN
        if (v >= 1f) return 255;
        return (byte)(v * 255f);           // float -> byte conversion truncates toward zero
    }

    /// <summary>SPEC step 13: when the input was enlarged, BICUBIC back to upscale x the original size;
    /// otherwise the image itself.</summary>
    public static RgbImage ResizeBack(RgbImage img, PreprocessResult p)
    {
        if (!p.ResizeFlag) return img;
        return PilResize.Resize(img, p.OutputWidth, p.OutputHeight, ResampleFilter.Bicubic);
    }

    /// <summary>Step 13 on the float path.</summary>
    public static PlaneImage ResizeBack(PlaneImage img, PreprocessResult p)
    {
        if (!p.ResizeFlag) return img;
        return PilResizeFloat.Resize(img, p.OutputWidth, p.OutputHeight, ResampleFilter.Bicubic);
    }
}

