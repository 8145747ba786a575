namespace PiSa.Engine.Imaging;

/// <summary>Pillow's resampling filters (PIL.Image.Resampling), with the same support radii.</summary>
public enum ResampleFilter
{
    Nearest,
    Box,
    Bilinear,
    Hamming,
    /// <summary>Keys cubic, a = -0.5: Pillow's default for RGB images.</summary>
    Bicubic,
    /// <summary>Lanczos, a = 3.</summary>
    Lanczos,
}
