using System.Buffers.Binary;
using System.IO.Compression;

namespace PiSa.Engine.Imaging;

/// <summary>
/// A small 8-bit RGB PNG writer: per-row adaptive filtering (the minimum-sum-of-absolute-differences
/// heuristic libpng uses) and the runtime's native zlib. It replaces stb's managed deflate, which
/// takes seconds on a 2048x2048 output, i.e. far longer than the model itself.
/// </summary>
internal static class PngEncoder
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    public static void Write(RgbImage image, Stream destination)
    {
        destination.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);

        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], image.Height);
        ihdr[8] = 8;    // bit depth
        ihdr[9] = 2;    // colour type: truecolour
        ihdr[10] = 0;   // deflate
        ihdr[11] = 0;   // adaptive filtering
        ihdr[12] = 0;   // no interlace
        WriteChunk(destination, "IHDR"u8, ihdr);

        var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true))
            WriteFilteredRows(image, z);
        WriteChunk(destination, "IDAT"u8, idat.GetBuffer().AsSpan(0, (int)idat.Length));
        WriteChunk(destination, "IEND"u8, []);
    }

    private static void WriteFilteredRows(RgbImage image, Stream z)
    {
        int stride = image.Width * 3;
        var zero = new byte[stride];
        var candidates = new byte[5][];
        for (int f = 0; f < 5; f++) { candidates[f] = new byte[stride + 1]; candidates[f][0] = (byte)f; }
        for (int y = 0; y < image.Height; y++)
        {
            ReadOnlySpan<byte> cur = image.Data.AsSpan(y * stride, stride);
            ReadOnlySpan<byte> up = y > 0 ? image.Data.AsSpan((y - 1) * stride, stride) : zero;
            // All five filters in one pass; keep the row whose residuals have the least absolute sum.
            byte[] r0 = candidates[0], r1 = candidates[1], r2 = candidates[2], r3 = candidates[3], r4 = candidates[4];
            long c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0;
            for (int i = 0; i < stride; i++)
            {
                int x = cur[i], a = i >= 3 ? cur[i - 3] : 0, b = up[i], c = i >= 3 ? up[i - 3] : 0;
                byte v0 = (byte)x, v1 = (byte)(x - a), v2 = (byte)(x - b), v3 = (byte)(x - ((a + b) >> 1)), v4 = (byte)(x - Paeth(a, b, c));
                r0[i + 1] = v0; r1[i + 1] = v1; r2[i + 1] = v2; r3[i + 1] = v3; r4[i + 1] = v4;
                c0 += Cost(v0); c1 += Cost(v1); c2 += Cost(v2); c3 += Cost(v3); c4 += Cost(v4);
            }
            int best = 0;
            long bestCost = c0;
            if (c1 < bestCost) { best = 1; bestCost = c1; }
            if (c2 < bestCost) { best = 2; bestCost = c2; }
            if (c3 < bestCost) { best = 3; bestCost = c3; }
            if (c4 < bestCost) { best = 4; }
            z.Write(candidates[best]);
        }
    }

    /// <summary>|residual| read as a signed byte, libpng's cost measure.</summary>
    private static int Cost(byte v) => v < 128 ? v : 256 - v;

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void WriteChunk(Stream s, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        s.Write(type);
        s.Write(data);
        uint crc = Crc(Crc(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        s.Write(word);
    }

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }
}
