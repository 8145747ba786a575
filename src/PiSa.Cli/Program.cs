using System.CommandLine;
using System.Text;
using PiSa.Cli.Commands;
using PiSa.Engine;

namespace PiSa.Cli;

/// <summary>
/// The `pisa` command. Every failure the user can cause ends as one line on stderr and a non-zero exit:
/// PisaException messages are printed as they are, so is running out of memory; anything else is a bug,
/// printed as one line with its type (set PISA_DEBUG=1 for the stack trace). Exit codes: 0 success, 1 a failed
/// input or run, 2 a usage error, 70 an internal error (a bug).
/// </summary>
public static class Program
{
    public const int ExitOk = 0, ExitFailed = 1, ExitUsage = 2, ExitInternal = 70;

    public static int Main(string[] args)
    {
        var root = new RootCommand("PiSaEngine: one-step 4x super-resolution (PiSA-SR) without Python.");
        CommandTree.AddAll(root);

        // No response files: an input called '@a.png' is a file name, not a list of arguments.
        ParseResult parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0)
        {
            // An unknown word explains more than "required command was not provided": prefer it.
            string message = parsed.Errors.Select(e => e.Message).FirstOrDefault(m => m.StartsWith("Unrecognized", StringComparison.Ordinal))
                ?? parsed.Errors[0].Message;
            string? hint = Suggestions.For(message, parsed.CommandResult.Command, root);
            Console.Error.WriteLine($"pisa: {OneLine(message)}{(hint != null ? $" (did you mean '{hint}'?)" : "")} (see 'pisa --help')");
            return ExitUsage;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return ReportFailure(e);
        }
    }

    /// <summary>One line for the user; the stack trace only on request.</summary>
    public static int ReportFailure(Exception e)
    {
        var inner = e is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerExceptions[0] : e;
        if (inner is UsageException)
        {
            Console.Error.WriteLine($"pisa: {OneLine(inner.Message)} (see 'pisa --help')");
            return ExitUsage;
        }
        if (inner is PisaException)
        {
            Console.Error.WriteLine($"pisa: error: {OneLine(inner.Message)}");
            return ExitFailed;
        }
        if (inner is OutOfMemoryException)
        {
            // Running out of memory is a resource failure, not a bug: input bounds keep small or lying files from
            // getting here (tests assert no reader raises it), so what remains is a real run bigger than the machine.
            Console.Error.WriteLine("pisa: error: out of memory: this run needs more memory than the machine has available (try a smaller input or smaller tiles)");
            if (Environment.GetEnvironmentVariable("PISA_DEBUG") == "1") Console.Error.WriteLine(inner);
            return ExitFailed;
        }
        Console.Error.WriteLine($"pisa: internal error: {inner.GetType().Name}: {OneLine(inner.Message)}");
        if (Environment.GetEnvironmentVariable("PISA_DEBUG") == "1") Console.Error.WriteLine(inner);
        return ExitInternal;
    }

    /// <summary>
    /// One printable line: line breaks become spaces; other control characters, format characters (U+202E
    /// RIGHT-TO-LEFT OVERRIDE and the other bidi controls, zero-width characters), unpaired surrogates and
    /// the replacement character (what undecodable bytes become) are shown as \uXXXX escapes, so a decoder's
    /// message or a file name never reorders or corrupts the terminal. Long messages are cut.
    /// </summary>
    public static string OneLine(string s)
    {
        const int maxLength = 600;
        var sb = new StringBuilder(Math.Min(s.Length, maxLength + 16));
        for (int i = 0; i < s.Length && sb.Length < maxLength; i++)
        {
            char c = s[i];
            if (c is '\r' or '\n' or '\t') { sb.Append(' '); continue; }
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { sb.Append(c).Append(s[++i]); continue; }
            var cat = char.GetUnicodeCategory(c);
            bool unsafeChar = cat is System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format
                or System.Globalization.UnicodeCategory.Surrogate or System.Globalization.UnicodeCategory.LineSeparator
                or System.Globalization.UnicodeCategory.ParagraphSeparator or System.Globalization.UnicodeCategory.PrivateUse
                || c == '\uFFFD';
            if (unsafeChar) sb.Append($"\\u{(int)c:X4}");
            else sb.Append(c);
        }
        if (sb.Length >= maxLength) sb.Append(" ...");
        return sb.ToString().Trim();
    }
}

/// <summary>The nearest command or option name to an unknown one (edit distance at most 2, or a unique prefix).</summary>
internal static class Suggestions
{
    public static string? For(string error, Command command, RootCommand root)
    {
        // System.CommandLine's message: "Unrecognized command or argument 'X'."
        int a = error.IndexOf('\''), b = error.LastIndexOf('\'');
        if (!error.StartsWith("Unrecognized command or argument", StringComparison.Ordinal) || a < 0 || b <= a) return null;
        string token = error[(a + 1)..b];
        var names = new List<string>();
        foreach (var o in command.Options) { names.Add(o.Name); names.AddRange(o.Aliases); }
        foreach (var c in (command == root ? root : command).Subcommands) names.Add(c.Name);
        if (token.StartsWith('-') && command != root) foreach (var o in root.Options) names.Add(o.Name);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var n in names.Distinct())
        {
            if (n.Length < 3 && !token.StartsWith("--", StringComparison.Ordinal)) continue;
            int d = Distance(token.ToLowerInvariant(), n.ToLowerInvariant());
            if (n.StartsWith(token, StringComparison.OrdinalIgnoreCase) && token.Length >= 4) d = Math.Min(d, 1);
            if (d < bestDistance) { bestDistance = d; best = n; }
        }
        return bestDistance <= Math.Max(2, token.Length / 4) ? best : null;
    }

    private static int Distance(string s, string t)
    {
        var prev = new int[t.Length + 1];
        var cur = new int[t.Length + 1];
        for (int j = 0; j <= t.Length; j++) prev[j] = j;
        for (int i = 1; i <= s.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= t.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (s[i - 1] == t[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[t.Length];
    }
}
