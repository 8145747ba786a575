namespace PiSa.Engine.Text;

/// <summary>
/// Splits cleaned text into BPE words exactly as CLIP's pattern
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// (case-insensitive) finds its matches: at each position the first alternative that matches wins;
/// whitespace between matches is skipped. Hand-written on code points instead of .NET Regex so that
/// astral letters count as letters, as in Python's regex module.
/// </summary>
internal static class ClipPreTokenizer
{
    private static readonly string[] Specials = ["<|startoftext|>", "<|endoftext|>"];
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    public static List<string> Split(string text)
    {
        var cps = PyUnicode.CodePoints(text);
        var words = new List<string>();
        int i = 0;
        while (i < cps.Count)
        {
            int len = MatchLiteral(cps, i, Specials);
            if (len == 0) len = MatchLiteral(cps, i, Contractions);
            if (len == 0)
            {
                int cp = cps[i];
                if (PyUnicode.IsLetter(cp))
                {
                    len = 1;
                    while (i + len < cps.Count && PyUnicode.IsLetter(cps[i + len])) len++;
                }
                else if (PyUnicode.IsNumber(cp)) len = 1;
                else if (!IsRegexSpace(cp))
                {
                    len = 1;
                    while (i + len < cps.Count && IsOther(cps[i + len])) len++;
                }
            }
            if (len == 0) { i++; continue; }  // whitespace: no match starts here
            words.Add(PyUnicode.FromCodePoints(cps.GetRange(i, len)));
            i += len;
        }
        return words;
    }

    private static bool IsOther(int cp) => !IsRegexSpace(cp) && !PyUnicode.IsLetter(cp) && !PyUnicode.IsNumber(cp);

    // \s of Python's regex module on str patterns; after the cleaner only ' ' can occur here.
    private static bool IsRegexSpace(int cp) => PyUnicode.IsPyWhitespace(cp);

    /// <summary>Length (in code points) of the first literal matching at i, ignoring ASCII case, else 0.</summary>
    private static int MatchLiteral(List<int> cps, int i, string[] literals)
    {
        foreach (var lit in literals)
        {
            if (i + lit.Length > cps.Count) continue;
            bool ok = true;
            for (int k = 0; k < lit.Length && ok; k++)
            {
                int cp = cps[i + k];
                ok = cp < 128 && char.ToLowerInvariant((char)cp) == lit[k];
            }
            if (ok) return lit.Length;
        }
        return 0;
    }
}
