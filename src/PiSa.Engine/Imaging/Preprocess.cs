using PiSa.Engine.Tensors;

namespace PiSa.Engine.Imaging;

/// <summary>What <see cref="Preprocess.Run"/> produced, and what the final stage needs to undo it.</summary>
public sealed class PreprocessResult
{
    /// <summary>The preprocessed 8-bit image (SPEC step 4): the colour-fix source.</summary>
    public required RgbImage Source { get; init; }
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
    public static PreprocessResult Run(RgbImage input, int upscale, int processSize)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (upscale < 1) throw new PisaException($"upscale must be at least 1 (got {upscale})");
        if (processSize < 0) throw new PisaException($"process size must not be negative (got {processSize})");

        int w0 = input.Width, h0 = input.Height;
        var size = Sizes(w0, h0, upscale, processSize);
        RgbImage img = input;
        if (size.ResizeFlag) img = PilResize.Resize(img, size.EnlargedWidth, size.EnlargedHeight, ResampleFilter.Bicubic);
        img = PilResize.Resize(img, size.UpscaledWidth, size.UpscaledHeight, ResampleFilter.Bicubic);
        img = PilResize.Resize(img, size.ModelWidth, size.ModelHeight, ResampleFilter.Lanczos);
        bool resizeFlag = size.ResizeFlag;

        return new PreprocessResult
        {
            Source = img,
            ModelInput = ToModelInput(img),
            ResizeFlag = resizeFlag,
            OriginalWidth = w0,
            OriginalHeight = h0,
            Upscale = upscale,
        };
    }

    /// <summary>
    /// The sizes <see cref="Run"/> goes through for a w0 x h0 input, computed without touching pixels (the memory
    /// budget needs them before any work): Python's `process_size // upscale` and int() truncation of the float
    /// scale for the enlargement, x upscale, then down to a multiple of 8. Refuses sizes past what a .NET array or
    /// the 8-pixel minimum allows.
    /// </summary>
    public static PreprocessSizes Sizes(int w0, int h0, int upscale, int processSize)
    {
        if (upscale < 1) throw new PisaException($"upscale must be at least 1 (got {upscale})");
        if (processSize < 0) throw new PisaException($"process size must not be negative (got {processSize})");
        if (w0 < 1 || h0 < 1) throw new PisaException($"input {w0}x{h0} has no pixels");
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
        return new PreprocessSizes(resizeFlag, (int)ew, (int)eh, (int)upW, (int)upH, (int)w8, (int)h8);
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
}

/// <summary>The image sizes of the preprocessing chain (see <see cref="Preprocess.Sizes"/>).</summary>
public readonly record struct PreprocessSizes(bool ResizeFlag, int EnlargedWidth, int EnlargedHeight,
    int UpscaledWidth, int UpscaledHeight, int ModelWidth, int ModelHeight);
