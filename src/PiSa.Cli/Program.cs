using System.CommandLine;
using PiSa.Cli.Commands;
using PiSa.Engine;

namespace PiSa.Cli;

/// <summary>
/// The `pisa` command. Every failure the user can cause ends as one line on stderr and a non-zero exit:
/// PisaException messages are printed as they are (exit 1), so is running out of memory; anything else is a
/// bug, printed as one line with its type, exit 70 (set PISA_DEBUG=1 for the stack trace).
/// </summary>
public static class Program
{
    public const int ExitOk = 0, ExitFailed = 1, ExitUsage = 2, ExitInternal = 70;

    public static int Main(string[] args)
    {
        var root = new RootCommand("PiSaEngine: one-step 4x super-resolution (PiSA-SR) without Python.");
        CommandTree.AddAll(root);

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            Console.Error.WriteLine($"pisa: {OneLine(parsed.Errors[0].Message)} (see 'pisa --help')");
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

    public static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
