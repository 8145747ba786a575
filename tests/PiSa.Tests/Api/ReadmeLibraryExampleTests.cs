using PiSa.Engine.Api;
using PiSa.Engine.Pipeline;

namespace PiSa.Tests.Api;

/// <summary>Paths in README examples are relative to the repository root: tests that set the process's current
/// folder run alone.</summary>
[CollectionDefinition(nameof(CurrentDirectoryCollection), DisableParallelization = true)]
public sealed class CurrentDirectoryCollection;

/// <summary>
/// The README's library example, as nietras/Sep keeps its README examples: the code lives here, where it is
/// compiled, and is run by a test; another test checks that the README's block is this code, character for
/// character (after removing the indentation), so the two cannot drift apart.
/// </summary>
[Collection(nameof(CurrentDirectoryCollection))]
public sealed class ReadmeLibraryExampleTests
{
    private const string Begin = "// README library example begins", End = "// README library example ends";

    private static async Task Example()
    {
        // README library example begins
        await using var upscaler = await PisaUpscaler.LoadAsync(new PisaUpscalerOptions
        {
            ModelDir = "tests/fixtures/pisa-tiny/sd",
            LoraPath = "tests/fixtures/pisa-tiny/pisa_sr.pkl",
            Device = "cpu",
        });
        var options = new UpscaleOptions { ProcessSize = 64, Mode = LoraMode.Adjustable, LambdaPix = 0.8f, LambdaSem = 1.2f };
        var progress = new Progress<UpscaleProgress>(p => Console.WriteLine($"{p.Stage} {p.Tile}/{p.Tiles}"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var outcome = await upscaler.UpscaleFileAsync("tests/fixtures/pisa-tiny/inputs/lq_a.png", "lq_a_x4.png",
            options, progress, timeout.Token);
        Console.WriteLine($"{outcome.Image.Width}x{outcome.Image.Height} in {outcome.RunMilliseconds:F0} ms");
        // README library example ends
    }

    [Fact]
    public async Task Readme_library_example_runs()
    {
        string before = Environment.CurrentDirectory;
        string output = Path.Combine(FixturePaths.RepoRoot, "lq_a_x4.png");
        try
        {
            Environment.CurrentDirectory = FixturePaths.RepoRoot;
            await Example();
            var image = Engine.Imaging.ImageIO.Load(output);
            Assert.Equal((80, 80), (image.Width, image.Height)); // 20x20 input, x4
        }
        finally
        {
            Environment.CurrentDirectory = before;
            File.Delete(output);
        }
    }

    [Fact]
    public void Readme_library_example_is_this_code()
    {
        string source = File.ReadAllText(Path.Combine(FixturePaths.RepoRoot, "tests", "PiSa.Tests", "Api", "ReadmeLibraryExampleTests.cs"));
        // The markers as comment lines (not the constants above, which are followed by a quote).
        source = source.ReplaceLineEndings("\n");
        int b = source.IndexOf(Begin + "\n", StringComparison.Ordinal), e = source.IndexOf(End + "\n", StringComparison.Ordinal);
        var lines = source[(source.IndexOf('\n', b) + 1)..source.LastIndexOf('\n', e)].Split('\n');
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        string code = string.Join('\n', lines.Select(l => l.Length >= indent ? l[indent..] : l.Trim()));

        string readme = File.ReadAllText(Path.Combine(FixturePaths.RepoRoot, "README.md")).ReplaceLineEndings("\n");
        int section = readme.IndexOf("## Library", StringComparison.Ordinal);
        Assert.True(section >= 0, "README has no '## Library' section");
        int start = readme.IndexOf("```csharp\n", section, StringComparison.Ordinal) + "```csharp\n".Length;
        int stop = readme.IndexOf("\n```", start, StringComparison.Ordinal);
        string block = readme[start..stop];
        // The README block adds the two using lines a reader needs; the rest is the example.
        Assert.Equal("using PiSa.Engine.Api;\nusing PiSa.Engine.Pipeline;\n\n" + code.TrimEnd(), block.TrimEnd());
    }
}
