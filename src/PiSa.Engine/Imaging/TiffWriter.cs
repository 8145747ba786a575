using System.Buffers.Binary;
using System.IO.Compression;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;

namespace PiSa.Engine.Imaging;

/// <summary>
/// A small baseline TIFF writer for what ImageSharp 2.1's TIFF encoder cannot write (16 bits per sample, an alpha
/// sample): little-endian, one image file directory (IFD), 8 or 16 bits per sample, 1 to 4 samples per pixel (grey,
/// grey+alpha, RGB, RGBA; alpha as ExtraSamples = 2, unassociated), interleaved (PlanarConfiguration 1), Deflate
/// (Compression 8) in strips of at most <see cref="StripBytes"/> uncompressed bytes, BlackIsZero or RGB. The ICC
/// profile (tag 34675), XMP (tag 700) and EXIF (IFD0 tags, an EXIF sub-IFD at tag 34665 and a GPS sub-IFD at tag
/// 34853, from <see cref="TiffExifFields"/>) go with it. The file is laid out in memory first (header, IFDs with
/// their values, then the strips) so every offset is known when it is written and the stream need not seek.
/// (<see cref="ImageEncoder"/> sends grey+alpha as RGBA: ImageSharp 2.1 reads no 2-sample TIFF.)
/// </summary>
internal static class TiffWriter
{
    /// <summary>Uncompressed bytes per strip at most (one row when a row is longer): readers hold a strip at once.</summary>
    public const int StripBytes = 256 * 1024;

    /// <summary>Fills one row (0-based) with its samples, interleaved, 16-bit samples little-endian.</summary>
    public delegate void RowSource(int y, Span<byte> row);

    public sealed record Profiles(ExifProfile? Exif, byte[]? Xmp, byte[]? Icc);

    private const ushort Byte = 1, Short = 3, Long = 4, Undefined = 7;

    public static void Write(Stream destination, int width, int height, int samples, int bits, RowSource rows, Profiles? profiles)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"TIFF image size {width}x{height} must be at least 1x1");
        if (samples is < 1 or > 4) throw new ArgumentException($"TIFF output has 1 to 4 samples per pixel, not {samples}");
        if (bits is not (8 or 16)) throw new ArgumentException($"TIFF output has 8 or 16 bits per sample, not {bits}");
        long rowLong = (long)width * samples * (bits / 8);
        if (rowLong > Array.MaxLength) throw new PisaException($"TIFF row of {width} pixels is too long ({rowLong} bytes)");
        int rowBytes = (int)rowLong;
        int rowsPerStrip = Math.Max(1, StripBytes / rowBytes);
        int stripCount = (height + rowsPerStrip - 1) / rowsPerStrip;

        var strips = CompressStrips(width, height, rowBytes, rowsPerStrip, rows);

        // IFD0: the layout tags, the profiles, and the EXIF profile's IFD0 tags (ours win where both name a tag).
        var fields = TiffExifFields.From(profiles?.Exif);
        var ifd0 = new SortedDictionary<ushort, Field>();
        foreach (var (tag, f) in fields.Ifd0) ifd0[tag] = f;
        ifd0[256] = Longs((uint)width);
        ifd0[257] = Longs((uint)height);
        ifd0[258] = Shorts(Enumerable.Repeat((ushort)bits, samples).ToArray());
        ifd0[259] = Shorts(8);                                  // Deflate (zlib)
        ifd0[262] = Shorts(samples >= 3 ? (ushort)2 : (ushort)1); // RGB, or BlackIsZero
        ifd0[273] = Longs(new uint[stripCount]);                // strip offsets: filled in below
        ifd0[277] = Shorts((ushort)samples);
        ifd0[278] = Longs((uint)rowsPerStrip);
        ifd0[279] = Longs(strips.Select(s => (uint)s.Length).ToArray());
        ifd0[284] = Shorts(1);                                  // interleaved
        if (samples is 2 or 4) ifd0[338] = Shorts(2);           // the last sample is unassociated alpha
        if (profiles?.Xmp is { Length: > 0 } xmp) ifd0[700] = new Field(Byte, (uint)xmp.Length, xmp);
        if (profiles?.Icc is { Length: > 0 } icc) ifd0[34675] = new Field(Undefined, (uint)icc.Length, icc);
        SortedDictionary<ushort, Field>? exifIfd = fields.Exif.Count > 0 ? new(fields.Exif) : null;
        SortedDictionary<ushort, Field>? gpsIfd = fields.Gps.Count > 0 ? new(fields.Gps) : null;
        if (exifIfd != null) ifd0[34665] = Longs(0);            // sub-IFD offsets: filled in below
        if (gpsIfd != null) ifd0[34853] = Longs(0);

        // Offsets: header, IFD0 and its values, the sub-IFDs and theirs, then the strips.
        long at = 8;
        long ifd0At = at; at += IfdSize(ifd0);
        long exifAt = 0, gpsAt = 0;
        if (exifIfd != null) { exifAt = at; at += IfdSize(exifIfd); }
        if (gpsIfd != null) { gpsAt = at; at += IfdSize(gpsIfd); }
        var stripAt = new uint[stripCount];
        for (int i = 0; i < stripCount; i++)
        {
            stripAt[i] = Offset(at);
            at = Align(at + strips[i].Length);
        }
        Offset(at);   // the whole file within the 4 GiB a classic TIFF addresses
        ifd0[273] = Longs(stripAt);
        if (exifIfd != null) ifd0[34665] = Longs(Offset(exifAt));
        if (gpsIfd != null) ifd0[34853] = Longs(Offset(gpsAt));

        var head = new byte[8];
        "II"u8.CopyTo(head);
        BinaryPrimitives.WriteUInt16LittleEndian(head.AsSpan(2), 42);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(4), Offset(ifd0At));
        destination.Write(head);
        destination.Write(SerializeIfd(ifd0, ifd0At));
        if (exifIfd != null) destination.Write(SerializeIfd(exifIfd, exifAt));
        if (gpsIfd != null) destination.Write(SerializeIfd(gpsIfd, gpsAt));
        foreach (var s in strips)
        {
            destination.Write(s);
            if ((s.Length & 1) != 0) destination.WriteByte(0);
        }
    }

    /// <summary>One field's type, count and value bytes (little-endian), as it is stored.</summary>
    public sealed record Field(ushort Type, uint Count, byte[] Data);

    public static Field Shorts(params ushort[] v)
    {
        var b = new byte[v.Length * 2];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(i * 2), v[i]);
        return new Field(Short, (uint)v.Length, b);
    }

    public static Field Longs(params uint[] v)
    {
        var b = new byte[v.Length * 4];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i * 4), v[i]);
        return new Field(Long, (uint)v.Length, b);
    }

    private static byte[][] CompressStrips(int width, int height, int rowBytes, int rowsPerStrip, RowSource rows)
    {
        var strips = new byte[(height + rowsPerStrip - 1) / rowsPerStrip][];
        var row = new byte[rowBytes];
        for (int s = 0; s < strips.Length; s++)
        {
            var packed = new MemoryStream();
            using (var z = new ZLibStream(packed, CompressionLevel.Optimal, leaveOpen: true))
                for (int y = s * rowsPerStrip; y < Math.Min(height, (s + 1) * rowsPerStrip); y++)
                {
                    Array.Clear(row);
                    rows(y, row);
                    z.Write(row);
                }
            strips[s] = packed.ToArray();
        }
        return strips;
    }

    /// <summary>An IFD's bytes with the values that do not fit in an entry after it: count, 12-byte entries sorted by
    /// tag, a zero next-IFD offset, then each long value at an even offset.</summary>
    private static long IfdSize(SortedDictionary<ushort, Field> ifd) =>
        Align(2 + 12L * ifd.Count + 4) + ifd.Values.Where(f => f.Data.Length > 4).Sum(f => Align(f.Data.Length));

    private static byte[] SerializeIfd(SortedDictionary<ushort, Field> ifd, long at)
    {
        if (ifd.Count > ushort.MaxValue) throw new PisaException($"TIFF directory of {ifd.Count} entries is too large");
        var b = new byte[IfdSize(ifd)];
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)ifd.Count);
        long value = Align(2 + 12L * ifd.Count + 4);
        int e = 2;
        foreach (var (tag, f) in ifd)
        {
            if (f.Count != f.Data.Length / TypeSize(f.Type) || f.Data.Length % TypeSize(f.Type) != 0)
                throw new ArgumentException($"TIFF tag {tag}: {f.Data.Length} bytes do not hold {f.Count} values of type {f.Type}");
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(e), tag);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(e + 2), f.Type);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(e + 4), f.Count);
            if (f.Data.Length <= 4) f.Data.CopyTo(b, e + 8);   // left-justified in the entry
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(e + 8), Offset(at + value));
                f.Data.CopyTo(b, value);
                value += Align(f.Data.Length);
            }
            e += 12;
        }
        return b;   // the next-IFD offset after the entries stays zero: one image
    }

    /// <summary>Bytes per value of a TIFF field type (those <see cref="TiffExifFields"/> and this writer use).</summary>
    public static int TypeSize(ushort type) => type switch
    {
        1 or 2 or 6 or 7 => 1,
        3 or 8 => 2,
        4 or 9 or 11 => 4,
        5 or 10 or 12 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), $"TIFF field type {type}"),
    };

    private static long Align(long n) => (n + 1) & ~1L;

    private static uint Offset(long at) => at <= uint.MaxValue ? (uint)at
        : throw new PisaException($"TIFF output of {at} bytes exceeds the 4 GiB a TIFF file can address");
}
