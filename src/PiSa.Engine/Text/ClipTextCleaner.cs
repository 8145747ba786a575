using System.Globalization;

namespace PiSa.Engine.Text;

/// <summary>
/// The text clean-up transformers 4.28's slow CLIPTokenizer applies when the ftfy package is absent:
/// BERT's BasicTokenizer(do_lower_case=True), i.e. drop NUL/U+FFFD/control characters, map whitespace to
/// spaces, put spaces around CJK ideographs, split on whitespace, lowercase, strip accents (NFD then drop
/// non-spacing marks), and make every punctuation character a word of its own. The words come back
/// joined by single spaces, which is what the CLIP pre-tokenizer then reads.
/// (Later transformers versions changed this path: no accent stripping, no punctuation split.)
/// </summary>
internal static class ClipTextCleaner
{
    public static string Clean(string text)
    {
        // 1. invalid and control characters out, whitespace to ' ', spaces around CJK ideographs.
        var cps = new List<int>(text.Length + 8);
        foreach (int cp in PyUnicode.CodePoints(text))
        {
            if (cp == 0 || cp == 0xFFFD || IsControl(cp)) continue;
            if (IsBertWhitespace(cp)) { cps.Add(' '); continue; }
            if (IsCjk(cp)) { cps.Add(' '); cps.Add(cp); cps.Add(' '); continue; }
            cps.Add(cp);
        }

        // 2. per whitespace-separated word: lowercase, strip accents, split off punctuation.
        var words = new List<string>();
        foreach (var word in SplitPyWhitespace(cps))
        {
            var lowered = StripAccents(PyUnicode.Lower(word));
            var current = new List<int>();
            foreach (int cp in PyUnicode.CodePoints(lowered))
            {
                if (IsPunctuation(cp))
                {
                    if (current.Count > 0) { words.Add(PyUnicode.FromCodePoints(current)); current.Clear(); }
                    words.Add(char.ConvertFromUtf32(cp));
                }
                else current.Add(cp);
            }
            if (current.Count > 0) words.Add(PyUnicode.FromCodePoints(current));
        }

        // 3. rejoin; the final whitespace split drops empty pieces (e.g. a word that was only accents).
        var joined = PyUnicode.CodePoints(string.Join(" ", words));
        return string.Join(" ", SplitPyWhitespace(joined).Select(PyUnicode.FromCodePoints));
    }

    private static IEnumerable<List<int>> SplitPyWhitespace(List<int> cps)
    {
        var current = new List<int>();
        foreach (int cp in cps)
        {
            if (PyUnicode.IsPyWhitespace(cp))
            {
                if (current.Count > 0) { yield return current; current = new List<int>(); }
            }
            else current.Add(cp);
        }
        if (current.Count > 0) yield return current;
    }

    // NFD, then drop the non-spacing marks (string.Normalize does nothing under InvariantGlobalization).
    private static string StripAccents(List<int> cps) =>
        PyUnicode.FromCodePoints(UnicodeDecomposition.Nfd(cps).Where(cp => PyUnicode.Category(cp) != UnicodeCategory.NonSpacingMark));

    // BERT's _is_whitespace: space, \t, \n, \r, or category Zs.
    private static bool IsBertWhitespace(int cp) =>
        cp is ' ' or '\t' or '\n' or '\r' || PyUnicode.Category(cp) == UnicodeCategory.SpaceSeparator;

    // BERT's _is_control: any "C*" category except \t, \n, \r.
    private static bool IsControl(int cp)
    {
        if (cp is '\t' or '\n' or '\r') return false;
        return PyUnicode.Category(cp) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    // BERT's _is_punctuation: every non-alphanumeric printable ASCII character, or any "P*" category.
    private static bool IsPunctuation(int cp)
    {
        if (cp is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126)) return true;
        return PyUnicode.Category(cp) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    // BERT's CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana).
    private static bool IsCjk(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F)
            or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
