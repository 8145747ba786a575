namespace PiSa.Engine.Imaging;

/// <summary>
/// A float image with 1 or 3 interleaved channels in [0, 1] (HWC): the full-precision form of a 16-bit
/// input (3 channels) and of an alpha plane (1 channel). 8-bit RGB stays in <see cref="RgbImage"/>, whose
/// integer resampling is Pillow's bit-exact 8-bit path.
/// </summary>
public sealed class PlaneImage
{
    public int Width { get; }
    public int Height { get; }
    public int Channels { get; }
    public float[] Data { get; }

    public PlaneImage(int width, int height, int channels, float[] data)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"image size {width}x{height} must be at least 1x1");
        if (channels is not (1 or 3)) throw new ArgumentException($"a plane image has 1 or 3 channels, not {channels}");
        if (data.LongLength != (long)width * height * channels)
            throw new ArgumentException($"{width}x{height}x{channels} image needs {(long)width * height * channels} values, got {data.LongLength}");
        Width = width;
        Height = height;
        Channels = channels;
        Data = data;
    }

    public static PlaneImage Allocate(int width, int height, int channels)
    {
        long n = (long)width * height * channels;
        if (width < 1 || height < 1 || n > Array.MaxLength)
            throw new PisaException($"image size {width}x{height} is too large ({n} values in one buffer)");
        return new PlaneImage(width, height, channels, new float[n]);
    }

    /// <summary>An 8-bit RGB image as unit floats (byte / 255, as torchvision's to_tensor).</summary>
    public static PlaneImage FromRgb(RgbImage img) => new(img.Width, img.Height, 3, ColorFix.ToUnit(img));

    public override string ToString() => $"PlaneImage {Width}x{Height}x{Channels}";
}
