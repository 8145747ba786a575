using System.Buffers.Binary;

namespace PiSa.Engine.Imaging;

/// <summary>
/// Whether an image file is complete, judged from its structure before decoding. ImageSharp decodes a
/// truncated JPEG, BMP, WebP or GIF "successfully", with the missing part grey or black; Pillow refuses such
/// files ("image file is truncated") and so do we. Per format: PNG ends with a whole IEND chunk after whole
/// chunks; JPEG has an EOI marker after its first scan; BMP and uncompressed TGA hold every pixel byte their
/// headers imply; WebP holds the length its RIFF header states; GIF ends with its trailer byte. TIFF has no
/// cheap whole-file check (strips may lie anywhere); the decoder's own checks apply there. PNG data far larger than
/// the header's image can need is refused too: it could only inflate past the image.
/// </summary>
internal static class FileCompleteness
{
    /// <summary>null when the file looks whole, else what is wrong ("is truncated: ...", or data far beyond what the
    /// header needs).</summary>
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
        long pos = 8, idat = 0, need = -1;
        while (pos + 12 <= f.Length)
        {
            long len = BinaryPrimitives.ReadUInt32BigEndian(f[(int)pos..]);
            var type = f.Slice((int)pos + 4, 4);
            if (type.SequenceEqual("IHDR"u8) && len >= 13 && pos + 8 + 13 <= f.Length) need = PngRawBytes(f.Slice((int)pos + 8, 13));
            if (type.SequenceEqual("IDAT"u8)) idat += len;
            pos += 12 + len;
            if (pos > f.Length) return "is truncated: a chunk runs past the end of the file";
            if (type.SequenceEqual("IEND"u8))
            {
                // Deflate never needs much more than the raw size (stored blocks add 5 bytes in 65535, fixed
                // Huffman at worst 1 bit in 8): compressed data far beyond it can only inflate past the image
                // (a decompression bomb), and is refused before any of it is inflated.
                return need >= 0 && idat > 2 * need + 65536
                    ? $"holds {idat} bytes of compressed image data where its header needs about {need} (refused as a decompression bomb)"
                    : null;
            }
        }
        return "is truncated: the file ends before its IEND chunk";
    }

    /// <summary>Filtered scanline bytes a non-interlaced image of this IHDR needs (interlacing adds at most 7 filter
    /// bytes per row, inside the slack the caller allows).</summary>
    private static long PngRawBytes(ReadOnlySpan<byte> ihdr)
    {
        long w = BinaryPrimitives.ReadUInt32BigEndian(ihdr), h = BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..]);
        int depth = ihdr[8];
        int channels = ihdr[9] switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 4 };
        return h * (1 + (w * depth * channels + 7) / 8) + 7 * h;
    }

    private static string? Jpeg(ReadOnlySpan<byte> f)
    {
        // Walk the marker segments up to the first scan (skipping embedded thumbnails), then look for EOI.
        int pos = 2;
        while (pos + 4 <= f.Length)
        {
            if (f[pos] != 0xFF) return "is damaged: a marker is missing where one must be";
            byte marker = f[pos + 1];
            if (marker == 0xFF) { pos++; continue; }   // fill byte
            if (marker == 0xD9) return "is truncated: the file ends before its first scan";
            int len = BinaryPrimitives.ReadUInt16BigEndian(f[(pos + 2)..]);
            pos += 2 + len;
            if (marker == 0xDA)
            {
                if (pos > f.Length) return "is truncated: the scan header runs past the end of the file";
                // Entropy-coded data escapes 0xFF as FF 00, so FF D9 here is the end-of-image marker.
                for (int i = pos; i + 1 < f.Length; i++)
                    if (f[i] == 0xFF && f[i + 1] == 0xD9) return null;
                return "is truncated: the file ends before its end-of-image marker";
            }
        }
        return "is truncated: the file ends in its headers";
    }

    private static string? Bmp(ReadOnlySpan<byte> f)
    {
        if (f.Length < 30) return "is truncated: the headers are cut short";
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
            if (f.Length < 34) return "is truncated: the headers are cut short";
            w = BinaryPrimitives.ReadInt32LittleEndian(f[18..]);
            h = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(f[22..]));
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(f[28..]);
            compression = BinaryPrimitives.ReadUInt32LittleEndian(f[30..]);
        }
        // Only uncompressed rows (BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS) have a size known from the header.
        if (compression is not (0 or 3 or 6)) return null;
        long stride = (w * bpp + 31) / 32 * 4;
        return offset + stride * h > f.Length ? "is truncated: the pixel data is cut short" : null;
    }

    private static string? Tga(ReadOnlySpan<byte> f)
    {
        if (f.Length < 18) return "is truncated: the header is cut short";
        int idLength = f[0], colorMapType = f[1], imageType = f[2];
        int mapLength = BinaryPrimitives.ReadUInt16LittleEndian(f[5..]), mapBits = f[7];
        int w = BinaryPrimitives.ReadUInt16LittleEndian(f[12..]), h = BinaryPrimitives.ReadUInt16LittleEndian(f[14..]), bpp = f[16];
        if (imageType is not (1 or 2 or 3)) return null;   // run-length coded: the decoder checks its runs
        long need = 18 + idLength + (colorMapType == 1 ? (long)mapLength * ((mapBits + 7) / 8) : 0) + (long)w * h * ((bpp + 7) / 8);
        return need > f.Length ? "is truncated: the pixel data is cut short" : null;
    }

    private static string? Webp(ReadOnlySpan<byte> f)
    {
        if (f.Length < 12) return "is truncated: the header is cut short";
        long size = BinaryPrimitives.ReadUInt32LittleEndian(f[4..]) + 8L;
        return size > f.Length ? $"is truncated: the RIFF header says {size} bytes, the file has {f.Length}" : null;
    }

    private static string? Gif(ReadOnlySpan<byte> f)
    {
        int end = f.Length - 1;
        while (end > 0 && f[end] == 0) end--;   // some writers pad after the trailer
        return f[end] == 0x3B ? null : "is truncated: the file ends before its trailer";
    }
}
