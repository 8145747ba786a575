namespace PiSa.Engine.Imaging;

/// <summary>
/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC: Data[(y * Width + x) * 3 + c]).
/// This is what Pillow's "RGB" mode holds, and every step of the PIL-compatible pipeline works on it.
/// </summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Data { get; }

    public RgbImage(int width, int height) : this(width, height, new byte[ByteCount(width, height)]) { }

    public RgbImage(int width, int height, byte[] data)
    {
        long n = ByteCount(width, height);
        if (data.LongLength != n)
            throw new ArgumentException($"RGB image {width}x{height} needs {n} bytes, got {data.LongLength}");
        Width = width;
        Height = height;
        Data = data;
    }

    public RgbImage Clone() => new(Width, Height, (byte[])Data.Clone());

    /// <summary>Byte count of a width x height RGB image; throws when it cannot be one .NET array.</summary>
    public static long ByteCount(int width, int height)
    {
        if (width < 1 || height < 1)
            throw new ArgumentException($"image size {width}x{height} must be at least 1x1");
        long n = (long)width * height * 3;
        if (n > Array.MaxLength)
            throw new PisaException($"image size {width}x{height} is too large ({n} bytes in one buffer)");
        return n;
    }

    public override string ToString() => $"RgbImage {Width}x{Height}";
}
