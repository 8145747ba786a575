using System.Buffers.Binary;
using System.IO.Compression;

namespace PiSa.Engine.Imaging;

/// <summary>
/// The PNG iCCP chunk (embedded ICC profile), which ImageSharp 2.1 neither reads nor writes: read here from the
/// file's bytes (the profile inflated under a size cap) and inserted after IHDR when writing a PNG.
/// Layout: profile name (1-79 Latin-1 bytes), NUL, compression method 0, zlib data.
/// </summary>
internal static class PngIccChunk
{
    /// <summary>Largest accepted profile once inflated (real profiles are a few KB to a few hundred KB).</summary>
    public const int MaxProfileBytes = 4 << 20;

    /// <summary>The profile of a PNG file, or null when it has none or the chunk is unusable (an unreadable
    /// profile is dropped, not fatal: the pixels are still good).</summary>
    public static byte[]? Read(ReadOnlySpan<byte> png)
    {
        long pos = 8;
        while (pos + 12 <= png.Length)
        {
            long len = BinaryPrimitives.ReadUInt32BigEndian(png[(int)pos..]);
            if (pos + 12 + len > png.Length) return null;
            var type = png.Slice((int)pos + 4, 4);
            if (type.SequenceEqual("IDAT"u8) || type.SequenceEqual("IEND"u8)) return null;   // iCCP precedes IDAT
            if (type.SequenceEqual("iCCP"u8)) return Inflate(png.Slice((int)pos + 8, (int)len));
            pos += 12 + len;
        }
        return null;
    }

    private static byte[]? Inflate(ReadOnlySpan<byte> data)
    {
        int nul = data.IndexOf((byte)0);
        if (nul < 1 || nul > 79 || nul + 2 > data.Length || data[nul + 1] != 0) return null;
        try
        {
            using var z = new ZLibStream(new MemoryStream(data[(nul + 2)..].ToArray()), CompressionMode.Decompress);
            var output = new MemoryStream();
            var buffer = new byte[81920];
            int n;
            while ((n = z.Read(buffer)) > 0)
            {
                if (output.Length + n > MaxProfileBytes) return null;
                output.Write(buffer, 0, n);
            }
            return output.Length >= 128 ? output.ToArray() : null;
        }
        catch (InvalidDataException) { return null; }
    }

    /// <summary>The PNG with an iCCP chunk holding <paramref name="profile"/> inserted after IHDR.</summary>
    public static byte[] Insert(byte[] png, byte[] profile)
    {
        var body = new MemoryStream();
        body.Write("ICC profile\0\0"u8);
        using (var z = new ZLibStream(body, CompressionLevel.Optimal, leaveOpen: true)) z.Write(profile);
        byte[] data = body.ToArray();
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
        "iCCP"u8.CopyTo(chunk.AsSpan(4));
        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32(chunk.AsSpan(4, 4 + data.Length)));
        const int afterIhdr = 8 + 12 + 13;
        var result = new byte[png.Length + chunk.Length];
        png.AsSpan(0, afterIhdr).CopyTo(result);
        chunk.CopyTo(result, afterIhdr);
        png.AsSpan(afterIhdr).CopyTo(result.AsSpan(afterIhdr + chunk.Length));
        return result;
    }

    /// <summary>The PNG chunk CRC (CRC-32, polynomial 0xEDB88320), bitwise: it runs once per written file.</summary>
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }
}
