using System.CommandLine;
using PiSa.Cli.Commands;

namespace PiSa.Tests.Cli;

/// <summary>The `pisa serve` command line: upscale's processing options as request defaults, clear failures.</summary>
public sealed class ServeCommandTests
{
    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;

    [Fact]
    public void Serve_takes_every_processing_option_of_upscale_with_the_same_default()
    {
        var root = PiSa.Cli.Program.BuildRoot();
        var upscale = root.Subcommands.Single(c => c.Name == "upscale");
        var serve = root.Subcommands.Single(c => c.Name == "serve");
        foreach (var option in new ProcessingOptions().All)
        {
            var u = upscale.Options.SingleOrDefault(o => o.Name == option.Name);
            Assert.True(u != null, $"upscale has no {option.Name}");
            Assert.Contains(serve.Options, o => o.Name == option.Name);
            // Same default: parse a bare command line of each and compare the values.
            var pu = root.Parse(["upscale", "x.png", "-o", "y.png", "--model", "m", "--lora", "l"]).GetResult(u)?.GetValueOrDefault<object>();
            var ps = root.Parse(["serve", "--model", "m", "--lora", "l"]).GetResult(serve.Options.Single(o => o.Name == option.Name))?.GetValueOrDefault<object>();
            Assert.Equal(pu?.ToString(), ps?.ToString());
        }
    }

    [Fact]
    public void A_missing_model_and_an_empty_token_file_are_one_line_errors()
    {
        using var dir = new TempDir();
        PisaProcess.AssertOneLineError(PisaProcess.Run("serve", "--model", dir.File("nowhere"), "--lora", Lora, "--port", "0", "--device", "cpu"), "nowhere");
        File.WriteAllText(dir.File("token"), "  \n");
        PisaProcess.AssertOneLineError(PisaProcess.Run("serve", "--model", Sd, "--lora", Lora, "--port", "0", "--device", "cpu", "--token-file", dir.File("token")), "is empty");
        PisaProcess.AssertOneLineError(PisaProcess.Run("serve", "--model", Sd, "--lora", Lora, "--device", "cpu", "--host", "example.com"), "--host");
        // The options are upscale's own (case-insensitive values, lambdas implying adjustable), but one lambda each.
        PisaProcess.AssertOneLineError(PisaProcess.Run("serve", "--model", Sd, "--lora", Lora, "--device", "cpu", "--lambda-pix", "0.5,1.0"), "a lambda grid is for pisa upscale", exitCode: 2);
    }
}
