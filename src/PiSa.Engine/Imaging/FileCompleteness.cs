using System.Buffers.Binary;

namespace PiSa.Engine.Imaging;

/// <summary>
/// Whether an image file is complete, judged from its structure before decoding. ImageSharp decodes a
/// truncated JPEG, BMP, WebP or GIF "successfully", with the missing part grey or black; Pillow refuses such
/// files ("image file is truncated") and so do we. Per format: PNG ends with a whole IEND chunk after whole
/// chunks; JPEG has an EOI marker after its first scan; BMP and uncompressed TGA hold every pixel byte their
/// headers imply; WebP holds the length its RIFF header states; GIF ends with its trailer byte. TIFF has no
/// cheap whole-file check (strips may lie anywhere); the decoder's own checks apply there.
/// </summary>
internal static class FileCompleteness
{
    /// <summary>null when the file looks complete, else what is missing.</summary>
    public static string? Problem(string formatName, ReadOnlySpan<byte> f) => formatName switch
    {
        "PNG" => Png(f),
        "JPEG" => Jpeg(f),
        "BMP" => Bmp(f),
        "TGA" => Tga(f),
        "Webp" or "WEBP" => Webp(f),
        "GIF" => Gif(f),
        _ => null,
    };

    private static string? Png(ReadOnlySpan<byte> f)
    {
        long pos = 8;
        while (pos + 12 <= f.Length)
        {
            long len = BinaryPrimitives.ReadUInt32BigEndian(f[(int)pos..]);
            bool iend = f.Slice((int)pos + 4, 4).SequenceEqual("IEND"u8);
            pos += 12 + len;
            if (pos > f.Length) return "a chunk runs past the end of the file";
            if (iend) return null;
        }
        return "the file ends before its IEND chunk";
    }

    private static string? Jpeg(ReadOnlySpan<byte> f)
    {
        // Walk the marker segments up to the first scan (skipping embedded thumbnails), then look for EOI.
        int pos = 2;
        while (pos + 4 <= f.Length)
        {
            if (f[pos] != 0xFF) return "a marker is missing where one must be";
            byte marker = f[pos + 1];
            if (marker == 0xFF) { pos++; continue; }   // fill byte
            if (marker == 0xD9) return "the file ends before its first scan";
            int len = BinaryPrimitives.ReadUInt16BigEndian(f[(pos + 2)..]);
            pos += 2 + len;
            if (marker == 0xDA)
            {
                if (pos > f.Length) return "the scan header runs past the end of the file";
                // Entropy-coded data escapes 0xFF as FF 00, so FF D9 here is the end-of-image marker.
                for (int i = pos; i + 1 < f.Length; i++)
                    if (f[i] == 0xFF && f[i + 1] == 0xD9) return null;
                return "the file ends before its end-of-image marker";
            }
        }
        return "the file ends in its headers";
    }

    private static string? Bmp(ReadOnlySpan<byte> f)
    {
        if (f.Length < 30) return "the headers are cut short";
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(f[10..]);
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(f[14..]);
        long w, h;
        int bpp;
        uint compression = 0;
        if (headerSize == 12)
        {
            w = BinaryPrimitives.ReadUInt16LittleEndian(f[18..]);
            h = BinaryPrimitives.ReadUInt16LittleEndian(f[20..]);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(f[24..]);
        }
        else
        {
            if (f.Length < 34) return "the headers are cut short";
            w = BinaryPrimitives.ReadInt32LittleEndian(f[18..]);
            h = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(f[22..]));
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(f[28..]);
            compression = BinaryPrimitives.ReadUInt32LittleEndian(f[30..]);
        }
        // Only uncompressed rows (BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS) have a size known from the header.
        if (compression is not (0 or 3 or 6)) return null;
        long stride = (w * bpp + 31) / 32 * 4;
        return offset + stride * h > f.Length ? "the pixel data is cut short" : null;
    }

    private static string? Tga(ReadOnlySpan<byte> f)
    {
        if (f.Length < 18) return "the header is cut short";
        int idLength = f[0], colorMapType = f[1], imageType = f[2];
        int mapLength = BinaryPrimitives.ReadUInt16LittleEndian(f[5..]), mapBits = f[7];
        int w = BinaryPrimitives.ReadUInt16LittleEndian(f[12..]), h = BinaryPrimitives.ReadUInt16LittleEndian(f[14..]), bpp = f[16];
        if (imageType is not (1 or 2 or 3)) return null;   // run-length coded: the decoder checks its runs
        long need = 18 + idLength + (colorMapType == 1 ? (long)mapLength * ((mapBits + 7) / 8) : 0) + (long)w * h * ((bpp + 7) / 8);
        return need > f.Length ? "the pixel data is cut short" : null;
    }

    private static string? Webp(ReadOnlySpan<byte> f)
    {
        if (f.Length < 12) return "the header is cut short";
        long size = BinaryPrimitives.ReadUInt32LittleEndian(f[4..]) + 8L;
        return size > f.Length ? $"the RIFF header says {size} bytes, the file has {f.Length}" : null;
    }

    private static string? Gif(ReadOnlySpan<byte> f)
    {
        int end = f.Length - 1;
        while (end > 0 && f[end] == 0) end--;   // some writers pad after the trailer
        return f[end] == 0x3B ? null : "the file ends before its trailer";
    }
}
