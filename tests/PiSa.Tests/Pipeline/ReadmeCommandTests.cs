using PiSa.Engine.Imaging;

namespace PiSa.Tests.Pipeline;

/// <summary>
/// The README's main command, taken from the README itself and run as a new user would (through the CLI entry
/// point), must produce the golden image of the case it stands for (a_default: lq_a, default mode, adain).
/// </summary>
public sealed class ReadmeCommandTests
{
    private const string Prefix = "dotnet run --project src/PiSa.Cli -c Release -- ";

    [Fact]
    public void Readme_main_command_produces_the_expected_image()
    {
        var readme = File.ReadAllLines(Path.Combine(FixturePaths.RepoRoot, "README.md"));
        string command = readme.First(l => l.StartsWith(Prefix + "upscale ", StringComparison.Ordinal));
        var args = command[Prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        using var dir = new TempDir();
        string output = dir.File("out.png");
        // Paths in the README are relative to the repository root; the output goes to a temporary folder.
        for (int i = 0; i < args.Length; i++)
        {
            if (i > 0 && args[i - 1] == "-o") args[i] = output;
            else if (File.Exists(Path.Combine(FixturePaths.RepoRoot, args[i])) || Directory.Exists(Path.Combine(FixturePaths.RepoRoot, args[i])))
                args[i] = Path.Combine(FixturePaths.RepoRoot, args[i]);
        }

        Assert.Equal(0, PiSa.Cli.Program.Main(args));
        var want = ImageIO.Load(Path.Combine(FixturePaths.Tiny, "expected", "case_a_default.png"));
        var got = ImageIO.Load(output);
        Assert.Equal((want.Width, want.Height), (got.Width, got.Height));
        double mad = want.Data.Zip(got.Data, (x, y) => (double)Math.Abs(x - y)).Average();
        Assert.True(mad < 0.5, $"README command output differs from the golden image by {mad:F3} levels on average");
    }
}
