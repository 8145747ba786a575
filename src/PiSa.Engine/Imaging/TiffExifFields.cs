using System.Buffers.Binary;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using Field = PiSa.Engine.Imaging.TiffWriter.Field;

namespace PiSa.Engine.Imaging;

/// <summary>
/// An ImageSharp <see cref="ExifProfile"/> as TIFF fields for <see cref="TiffWriter"/>, split as EXIF places them:
/// tags below 254 are GPS tags (GPS sub-IFD), the TIFF tags up to Copyright (33432) and the Windows XP tags
/// (0x9C9B-0x9C9F) belong in IFD0, the rest in the EXIF sub-IFD. Left out: the layout tags of
/// <see cref="TiffMetadata"/> (they describe another file), the sub-IFD pointers (34665, 34853, and 40965, the
/// interoperability IFD, which ImageSharp does not read, so there is nothing to point to), and values that cannot be
/// written faithfully: an <see cref="EncodedString"/> in JIS or an undefined character code (its text bytes are
/// gone once decoded), and any value of a type not handled below.
/// </summary>
internal static class TiffExifFields
{
    public sealed record Groups(Dictionary<ushort, Field> Ifd0, Dictionary<ushort, Field> Exif, Dictionary<ushort, Field> Gps);

    private static readonly HashSet<ushort> Skipped = [.. TiffMetadata.LayoutTags.Select(t => (ushort)t), 34665, 34853, 40965];

    public static Groups From(ExifProfile? exif)
    {
        var g = new Groups([], [], []);
        if (exif == null) return g;
        foreach (var v in exif.Values)
        {
            ushort tag = (ushort)v.Tag;
            if (Skipped.Contains(tag) || ToField(v) is not { Count: > 0 } f) continue;
            var group = tag < 254 ? g.Gps : tag <= 33432 || tag is >= 0x9C9B and <= 0x9C9F ? g.Ifd0 : g.Exif;
            group[tag] = f;
        }
        return g;
    }

    private const ushort Byte = 1, Ascii = 2, Short = 3, Long = 4, Rational = 5, SByte = 6, Undefined = 7,
        SShort = 8, SLong = 9, SRational = 10, Float = 11, Double = 12;

    /// <summary>One value as its TIFF type and little-endian bytes, or null when it cannot be written.</summary>
    private static Field? ToField(IExifValue v)
    {
        var type = (ushort)v.DataType;
        switch (v.GetValue())
        {
            case byte b: return Bytes(type == Undefined ? Undefined : Byte, [b]);
            case byte[] b: return Bytes(type == Undefined ? Undefined : Byte, b);
            case sbyte b: return Bytes(SByte, [(byte)b]);
            case sbyte[] b: return Bytes(SByte, [.. b.Select(x => (byte)x)]);
            // ImageSharp's Windows XP strings (declared BYTE) are UCS-2 little-endian with a 2-byte terminator.
            case string s when type == Byte: return Bytes(Byte, [.. Encoding.Unicode.GetBytes(s), 0, 0]);
            case string s: return Bytes(Ascii, [.. Encoding.UTF8.GetBytes(s), 0]);
            case EncodedString e: return Encoded(e);
            case ushort x: return TiffWriter.Shorts(x);
            case ushort[] x: return TiffWriter.Shorts(x);
            case short x: return Packed(SShort, 2, 1, (s, i) => BinaryPrimitives.WriteInt16LittleEndian(s, x));
            case short[] x: return Packed(SShort, 2, x.Length, (s, i) => BinaryPrimitives.WriteInt16LittleEndian(s, x[i]));
            case uint x: return TiffWriter.Longs(x);
            case uint[] x: return TiffWriter.Longs(x);
            case Number x: return type == Short ? TiffWriter.Shorts((ushort)x) : TiffWriter.Longs((uint)x);
            case Number[] x: return type == Short ? TiffWriter.Shorts([.. x.Select(n => (ushort)n)]) : TiffWriter.Longs([.. x.Select(n => (uint)n)]);
            case int x: return Packed(SLong, 4, 1, (s, i) => BinaryPrimitives.WriteInt32LittleEndian(s, x));
            case int[] x: return Packed(SLong, 4, x.Length, (s, i) => BinaryPrimitives.WriteInt32LittleEndian(s, x[i]));
            case Rational x: return Rationals([x]);
            case Rational[] x: return Rationals(x);
            case SignedRational x: return SignedRationals([x]);
            case SignedRational[] x: return SignedRationals(x);
            case float x: return Packed(Float, 4, 1, (s, i) => BinaryPrimitives.WriteSingleLittleEndian(s, x));
            case float[] x: return Packed(Float, 4, x.Length, (s, i) => BinaryPrimitives.WriteSingleLittleEndian(s, x[i]));
            case double x: return Packed(Double, 8, 1, (s, i) => BinaryPrimitives.WriteDoubleLittleEndian(s, x));
            case double[] x: return Packed(Double, 8, x.Length, (s, i) => BinaryPrimitives.WriteDoubleLittleEndian(s, x[i]));
            default: return null;
        }
    }

    private static Field? Bytes(ushort type, byte[] b) => b.Length == 0 ? null : new Field(type, (uint)b.Length, b);

    /// <summary>An EXIF encoded string (UserComment, ...): an 8-byte character code, then the text, UNDEFINED.</summary>
    private static Field? Encoded(EncodedString e)
    {
        var (code, text) = e.Code switch
        {
            EncodedString.CharacterCode.ASCII => ("ASCII\0\0\0"u8.ToArray(), Encoding.ASCII.GetBytes(e.Text)),
            EncodedString.CharacterCode.Unicode => ("UNICODE\0"u8.ToArray(), Encoding.Unicode.GetBytes(e.Text)),   // UTF-16 in the file's byte order
            _ => ((byte[]?)null, (byte[]?)null),
        };
        return code == null ? null : Bytes(Undefined, [.. code, .. text!]);
    }

    private static Field? Packed(ushort type, int size, int count, SpanWriter write)
    {
        if (count == 0) return null;
        var b = new byte[count * size];
        for (int i = 0; i < count; i++) write(b.AsSpan(i * size, size), i);
        return new Field(type, (uint)count, b);
    }

    private delegate void SpanWriter(Span<byte> destination, int index);

    private static Field? Rationals(Rational[] x) => Packed(Rational, 8, x.Length, (s, i) =>
    {
        BinaryPrimitives.WriteUInt32LittleEndian(s, x[i].Numerator);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], x[i].Denominator);
    });

    private static Field? SignedRationals(SignedRational[] x) => Packed(SRational, 8, x.Length, (s, i) =>
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, x[i].Numerator);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], x[i].Denominator);
    });
}
