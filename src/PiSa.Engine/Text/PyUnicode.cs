using System.Globalization;
using System.Text;

namespace PiSa.Engine.Text;

/// <summary>
/// The few Python string/unicodedata behaviours the slow CLIP tokenizer relies on, on code points
/// (so astral characters are one unit, as in Python): str.split() whitespace, str.lower() (full
/// mapping: final sigma and dotted capital I), and general categories.
/// </summary>
internal static class PyUnicode
{
    /// <summary>Characters Python's str.split()/str.strip() treat as whitespace.</summary>
    public static bool IsPyWhitespace(int cp) =>
        cp is (>= 0x09 and <= 0x0D) or (>= 0x1C and <= 0x20) or 0x85 or 0xA0 or 0x1680
            or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    public static UnicodeCategory Category(int cp) => Rune.GetUnicodeCategory(new Rune(cp));

    public static bool IsLetter(int cp) => Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    public static bool IsNumber(int cp) => Category(cp) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber
        or UnicodeCategory.OtherNumber;

    /// <summary>Code points of a string; unpaired surrogates become U+FFFD (which the cleaner then drops, as Python drops Cs).</summary>
    public static List<int> CodePoints(string s)
    {
        var list = new List<int>(s.Length);
        foreach (var r in s.EnumerateRunes()) list.Add(r.Value);
        return list;
    }

    public static string FromCodePoints(IEnumerable<int> cps)
    {
        var sb = new StringBuilder();
        foreach (var cp in cps) sb.Append(char.ConvertFromUtf32(cp));
        return sb.ToString();
    }

    /// <summary>
    /// Python str.lower(): simple lowercase per code point, except U+0130 (-> "i" + U+0307) and the
    /// final-sigma rule (capital sigma at the end of a word -> U+03C2).
    /// </summary>
    public static List<int> Lower(List<int> cps)
    {
        var result = new List<int>(cps.Count);
        for (int i = 0; i < cps.Count; i++)
        {
            int cp = cps[i];
            if (cp == 0x0130) { result.Add('i'); result.Add(0x0307); continue; }
            if (cp == 0x03A3) { result.Add(IsFinalSigma(cps, i) ? 0x03C2 : 0x03C3); continue; }
            result.Add(Rune.ToLowerInvariant(new Rune(cp)).Value);
        }
        return result;
    }

    // Unicode Final_Sigma: preceded by a cased letter and not followed by one, skipping case-ignorables.
    private static bool IsFinalSigma(List<int> cps, int i)
    {
        int j = i - 1;
        while (j >= 0 && IsCaseIgnorable(cps[j])) j--;
        if (j < 0 || !IsCased(cps[j])) return false;
        int k = i + 1;
        while (k < cps.Count && IsCaseIgnorable(cps[k])) k++;
        return k >= cps.Count || !IsCased(cps[k]);
    }

    private static bool IsCased(int cp) => Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(int cp) =>
        cp is '\'' or '.' or ':' or 0xB7 or 0x2019 or 0x2018 or 0x2024 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A
        || Category(cp) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol;
}
