using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;

namespace PiSa.Engine.Imaging;

/// <summary>
/// ImageSharp 2.1 keeps a TIFF's EXIF, XMP and ICC profile on its first frame, not on the image, and its frame EXIF
/// profile is the whole IFD: the file's layout tags (sizes, strip offsets, ...) beside the descriptive ones. Read,
/// the profiles are lifted to the image (so EXIF orientation applies and they reach any output format) with the
/// layout tags dropped (they describe the input file, not the output). Written, <see cref="TiffExifFields"/> leaves
/// the same layout tags out.
/// </summary>
internal static class TiffMetadata
{
    /// <summary>Tags that describe the TIFF file's own layout, or that carry a profile held elsewhere.</summary>
    public static readonly ExifTag[] LayoutTags =
    [
        ExifTag.ImageWidth, ExifTag.ImageLength, ExifTag.BitsPerSample, ExifTag.Compression, ExifTag.PhotometricInterpretation,
        ExifTag.FillOrder, ExifTag.StripOffsets, ExifTag.SamplesPerPixel, ExifTag.RowsPerStrip, ExifTag.StripByteCounts,
        ExifTag.PlanarConfiguration, ExifTag.Predictor, ExifTag.ColorMap, ExifTag.TileWidth, ExifTag.TileLength, ExifTag.TileOffsets,
        ExifTag.TileByteCounts, ExifTag.ExtraSamples, ExifTag.SampleFormat, ExifTag.JPEGTables, ExifTag.SubIFDs, ExifTag.XMP, ExifTag.IccProfile,
    ];

    /// <summary>After decoding a TIFF: the first frame's profiles onto the image, layout tags removed.</summary>
    public static void LiftFromFrame(Image image)
    {
        var frame = image.Frames.RootFrame.Metadata;
        var meta = image.Metadata;
        if (meta.ExifProfile == null && frame.ExifProfile != null)
        {
            var exif = frame.ExifProfile.DeepClone();
            foreach (var tag in LayoutTags) exif.RemoveValue(tag);
            meta.ExifProfile = exif.Values.Count > 0 ? exif : null;
        }
        meta.XmpProfile ??= frame.XmpProfile?.DeepClone();
        meta.IccProfile ??= frame.IccProfile?.DeepClone();
    }
}
