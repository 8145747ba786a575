using System.Buffers.Binary;
using System.Text;

namespace PiSa.Tests.Hostile;

/// <summary>
/// Seeded mutations of a seed input, in the manner of AFL's havoc stage: one to four of bit flips, bytes set
/// to boundary values, 32/64-bit boundary integers written over the data (sizes, counts and offsets in binary
/// headers), deletions, duplications, truncation; for text inputs (JSON) also numbers replaced by boundary
/// values and strings by lone surrogate escapes or junk. Deterministic for a given Random.
/// </summary>
internal static class Mutator
{
    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x7F, 0x80, 0xFF, (byte)'"', (byte)'\\', (byte)'{', (byte)'['];
    private static readonly long[] InterestingInts =
        [0, -1, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 65536, int.MaxValue, int.MinValue, uint.MaxValue, 1L << 32, long.MaxValue, long.MinValue, 1L << 62];
    private static readonly string[] InterestingNumbers =
        ["-2", "0", "-1", "65536", "2147483647", "2147483648", "-2147483648", "9223372036854775807", "1e309", "1.5", "1e-400", "100000", "4294967296", "null", "true", "[]", "{}"];
    private static readonly string[] InterestingStrings = ["\"\\ud800\"", "\"\\udfff\\ud800\"", "\"\"", "\"\\u0000\"", "\"\u00ff\u00fe\"", "[\"a\"]", "1"];

    public static byte[] Mutate(byte[] seed, Random rng, bool text)
    {
        var data = new List<byte>(seed);
        int ops = 1 + rng.Next(4);
        for (int i = 0; i < ops; i++)
        {
            if (text && rng.Next(2) == 0) data = new List<byte>(MutateText(data.ToArray(), rng));
            else MutateBytes(data, rng);
        }
        return data.ToArray();
    }

    private static void MutateBytes(List<byte> d, Random rng)
    {
        if (d.Count == 0) { d.Add((byte)rng.Next(256)); return; }
        int at = rng.Next(d.Count);
        switch (rng.Next(8))
        {
            case 0: d[at] ^= (byte)(1 << rng.Next(8)); break;
            case 1: d[at] = InterestingBytes[rng.Next(InterestingBytes.Length)]; break;
            case 2: d[at] = (byte)rng.Next(256); break;
            case 3: WriteInt(d, at, InterestingInts[rng.Next(InterestingInts.Length)], rng.Next(2) == 0 ? 4 : 8, bigEndian: rng.Next(4) == 0); break;
            case 4: d.RemoveRange(at, Math.Min(d.Count - at, 1 + rng.Next(16))); break;
            case 5:
            {
                int len = Math.Min(d.Count - at, 1 + rng.Next(32));
                d.InsertRange(rng.Next(d.Count + 1), d.GetRange(at, len));
                break;
            }
            case 6: d.RemoveRange(at, d.Count - at); break; // truncate
            default: d.Insert(at, (byte)rng.Next(256)); break;
        }
    }

    private static void WriteInt(List<byte> d, int at, long v, int width, bool bigEndian)
    {
        Span<byte> b = stackalloc byte[8];
        if (bigEndian) BinaryPrimitives.WriteInt64BigEndian(b, v); else BinaryPrimitives.WriteInt64LittleEndian(b, v);
        var bytes = bigEndian ? b[(8 - width)..] : b[..width];
        for (int i = 0; i < width && at + i < d.Count; i++) d[at + i] = bytes[i];
    }

    /// <summary>Replaces a number or string token of JSON-like text.</summary>
    private static byte[] MutateText(byte[] data, Random rng)
    {
        string s = Encoding.Latin1.GetString(data); // byte-preserving
        var tokens = new List<(int Start, int Length, bool IsString)>();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '"')
            {
                int j = i + 1;
                while (j < s.Length && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
                if (j >= s.Length) break;
                tokens.Add((i, j - i + 1, true));
                i = j;
            }
            else if (char.IsAsciiDigit(s[i]) || (s[i] == '-' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1])))
            {
                int j = i + 1;
                while (j < s.Length && (char.IsAsciiDigit(s[j]) || s[j] is '.' or 'e' or 'E' or '-' or '+')) j++;
                tokens.Add((i, j - i, false));
                i = j - 1;
            }
        }
        if (tokens.Count == 0) return data;
        var (start, length, isString) = tokens[rng.Next(tokens.Count)];
        string replacement = isString && rng.Next(3) != 0
            ? InterestingStrings[rng.Next(InterestingStrings.Length)]
            : InterestingNumbers[rng.Next(InterestingNumbers.Length)];
        return Encoding.Latin1.GetBytes(s[..start] + replacement + s[(start + length)..]);
    }
}
