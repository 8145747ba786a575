using System.Buffers.Binary;

namespace PiSa.Engine.Imaging;

/// <summary>
/// Fixes up the RIFF container of a WebP file written by ImageSharp 2.1, which writes no ICCP chunk (the ICC
/// profile is dropped) and, in lossless files with EXIF or XMP, states a RIFF size larger than the file (every
/// strict reader, ours included, then sees a truncated file). The chunks are kept as written, in order; the RIFF
/// size is recomputed from them, and a given profile goes into an ICCP chunk right after VP8X (with VP8X's ICC
/// flag set; a VP8X chunk is made when the file has none), where the WebP container specification puts it.
/// </summary>
internal static class WebpContainer
{
    private const byte IccFlag = 0x20, AlphaFlag = 0x10, ExifFlag = 0x08, XmpFlag = 0x04;

    /// <param name="webp">A whole WebP file from ImageSharp's encoder.</param>
    /// <param name="icc">The ICC profile to embed, or null.</param>
    /// <param name="alpha">The image has an alpha channel (for the flags of a VP8X chunk made here).</param>
    public static byte[] Rewrite(ReadOnlySpan<byte> webp, byte[]? icc, int width, int height, bool alpha)
    {
        if (webp.Length < 12 || !webp[..4].SequenceEqual("RIFF"u8) || !webp.Slice(8, 4).SequenceEqual("WEBP"u8))
            throw new InvalidOperationException("the WebP encoder wrote no RIFF/WEBP header");
        var chunks = new List<(string Id, byte[] Payload)>();
        int pos = 12;
        while (pos < webp.Length)
        {
            if (pos + 8 > webp.Length) throw new InvalidOperationException($"the WebP encoder wrote a cut chunk header at byte {pos}");
            string id = System.Text.Encoding.ASCII.GetString(webp.Slice(pos, 4));
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(webp[(pos + 4)..]);
            if (size > webp.Length - pos - 8) throw new InvalidOperationException($"the WebP encoder wrote a {id} chunk of {size} bytes past the end of the file");
            chunks.Add((id, webp.Slice(pos + 8, (int)size).ToArray()));
            pos += 8 + (int)size + (int)(size & 1);
        }

        if (icc is { Length: > 0 })
        {
            chunks.RemoveAll(c => c.Id == "ICCP");
            int vp8x = chunks.FindIndex(c => c.Id == "VP8X");
            if (vp8x < 0)
            {
                if (width < 1 || height < 1 || width > 1 << 24 || height > 1 << 24) throw new ArgumentOutOfRangeException(nameof(width));
                var payload = new byte[10];
                payload[0] = (byte)((alpha ? AlphaFlag : 0) | (chunks.Any(c => c.Id == "EXIF") ? ExifFlag : 0) | (chunks.Any(c => c.Id == "XMP ") ? XmpFlag : 0));
                WriteUInt24(payload.AsSpan(4), width - 1);
                WriteUInt24(payload.AsSpan(7), height - 1);
                chunks.Insert(0, ("VP8X", payload));
                vp8x = 0;
            }
            chunks[vp8x].Payload[0] |= IccFlag;
            chunks.Insert(vp8x + 1, ("ICCP", icc));
        }

        long total = 12 + chunks.Sum(c => 8L + c.Payload.Length + (c.Payload.Length & 1));
        if (total > uint.MaxValue) throw new InvalidOperationException("WebP file over 4 GiB");
        var output = new byte[total];
        "RIFF"u8.CopyTo(output);
        BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(4), (uint)(total - 8));
        "WEBP"u8.CopyTo(output.AsSpan(8));
        int o = 12;
        foreach (var (id, payload) in chunks)
        {
            System.Text.Encoding.ASCII.GetBytes(id, output.AsSpan(o, 4));
            BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(o + 4), (uint)payload.Length);
            payload.CopyTo(output.AsSpan(o + 8));
            o += 8 + payload.Length + (payload.Length & 1);   // the pad byte stays 0
        }
        return output;
    }

    private static void WriteUInt24(Span<byte> b, int v)
    {
        b[0] = (byte)v;
        b[1] = (byte)(v >> 8);
        b[2] = (byte)(v >> 16);
    }
}
