namespace PiSa.Engine.Imaging;

/// <summary>The output encodings <see cref="ImageIO.Save"/> writes, chosen by file extension.</summary>
public enum ImageFormat
{
    Png,
    Jpeg,
    Bmp,
    Tga,
}
