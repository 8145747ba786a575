using System.Text;

namespace PiSa.Engine.Text;

/// <summary>
/// CLIP's byte-level BPE: a word's UTF-8 bytes are mapped to printable stand-in characters (GPT-2's
/// bytes_to_unicode table), the last one gets the end-of-word mark "&lt;/w&gt;", then the lowest-ranked
/// adjacent pair in merges.txt is merged everywhere, repeatedly, until no listed pair remains.
/// </summary>
internal sealed class ClipBpe
{
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly Dictionary<string, string[]> _cache = new(StringComparer.Ordinal); // guarded by lock(_cache)
    private static readonly char[] ByteToChar = BuildByteTable();

    public ClipBpe(Dictionary<(string, string), int> ranks) => _ranks = ranks;

    /// <summary>
    /// GPT-2's reversible byte table: printable Latin-1 bytes stand for themselves, the other 68 bytes
    /// (controls, space, 0x7F-0xA0, 0xAD) take the code points from U+0100 upward in byte order.
    /// </summary>
    private static char[] BuildByteTable()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    public static string ByteEncode(string word)
    {
        var bytes = Encoding.UTF8.GetBytes(word);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>BPE pieces of one byte-encoded word (each a vocab key).</summary>
    public string[] Encode(string encodedWord)
    {
        lock (_cache)
            if (_cache.TryGetValue(encodedWord, out var cached)) return cached;
        var parts = new List<string>(encodedWord.Length);
        foreach (char ch in encodedWord) parts.Add(ch.ToString());
        parts[^1] += "</w>";

        while (parts.Count > 1)
        {
            // The adjacent pair with the lowest merge rank.
            int best = int.MaxValue;
            (string, string) pair = default;
            for (int i = 0; i + 1 < parts.Count; i++)
            {
                if (_ranks.TryGetValue((parts[i], parts[i + 1]), out int r) && r < best) { best = r; pair = (parts[i], parts[i + 1]); }
            }
            if (best == int.MaxValue) break;

            // Merge every non-overlapping occurrence, left to right.
            var merged = new List<string>(parts.Count);
            for (int i = 0; i < parts.Count; i++)
            {
                if (i + 1 < parts.Count && parts[i] == pair.Item1 && parts[i + 1] == pair.Item2)
                {
                    merged.Add(pair.Item1 + pair.Item2);
                    i++;
                }
                else merged.Add(parts[i]);
            }
            parts = merged;
        }
        var result = parts.ToArray();
        lock (_cache)
            if (_cache.Count < 100_000) _cache[encodedWord] = result;
        return result;
    }
}
