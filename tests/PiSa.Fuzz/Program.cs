using PiSa.Tests.Hostile;
using SharpFuzz;

namespace PiSa.Fuzz;

/// <summary>
/// `PiSa.Fuzz KIND [--libfuzzer]`: feeds fuzzer inputs of one kind (checkpoint, safetensors, image, config) to
/// <see cref="FuzzTargets"/>. A refusal (PisaException) is the contract; any other exception escapes and is
/// the finding the fuzzer reports. Without --libfuzzer it speaks AFL's fork-server protocol (afl-fuzz).
/// PISA_FUZZ_MODEL names the tiny model folder for the config cross-check (default: the repository fixture).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // The kind comes from the first argument or PISA_FUZZ_KIND (libfuzzer-dotnet passes one --target_arg).
        bool libFuzzer = args.Contains("--libfuzzer");
        string? kindText = args.FirstOrDefault(a => a != "--libfuzzer") ?? Environment.GetEnvironmentVariable("PISA_FUZZ_KIND");
        if (args.Length > 2 || !Enum.TryParse(kindText, ignoreCase: true, out FuzzKind kind))
        {
            Console.Error.WriteLine("usage: PiSa.Fuzz checkpoint|safetensors|image|config [--libfuzzer]  (or PISA_FUZZ_KIND=KIND PiSa.Fuzz --libfuzzer)");
            return 2;
        }
        string scratch = Path.Combine(Path.GetTempPath(), $"pisa-fuzz-{kind}-{Environment.ProcessId}");
        var targets = new FuzzTargets(scratch, Environment.GetEnvironmentVariable("PISA_FUZZ_MODEL") ?? FindTinyModel());
        if (libFuzzer)
            Fuzzer.LibFuzzer.Run(span => targets.Run(kind, span));
        else
            Fuzzer.OutOfProcess.Run(stream =>
            {
                var buffer = new MemoryStream();
                stream.CopyTo(buffer);
                targets.Run(kind, buffer.ToArray());
            });
        return 0;
    }

    /// <summary>tests/fixtures/pisa-tiny/sd above the binary, when run from the repository.</summary>
    private static string? FindTinyModel()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string sd = Path.Combine(dir.FullName, "tests", "fixtures", "pisa-tiny", "sd");
            if (Directory.Exists(sd)) return sd;
        }
        return null;
    }
}
