using System.Globalization;
using System.Text.Json;
using PiSa.Engine.Pipeline;

namespace PiSa.Tests;

/// <summary>
/// The cases of tests/fixtures/pisa-tiny/manifest.json as the tests use them: the engine's reading of each case
/// (<see cref="GoldenManifest"/>: input, options, expected files) plus the sizes the official preprocessing gave,
/// which only the tests check.
/// </summary>
public sealed record GoldenCase(
    Engine.Pipeline.GoldenCase Case, bool ResizeFlag, int ModelWidth, int ModelHeight, int OutputWidth, int OutputHeight)
{
    public string Name => Case.Name;
    public string Input => Case.InputPath;
    public UpscaleOptions Options => Case.Options;
    public int Upscale => Options.Upscale;
    public int ProcessSize => Options.ProcessSize;
    public string ExpectedPng => Case.ExpectedPng;
    public string ExpectedTensors => Case.ExpectedTensors;

    public override string ToString() => Name;

    public static IReadOnlyList<GoldenCase> All { get; } = Load(FixturePaths.Tiny);

    /// <summary>The case names, as xunit MemberData rows.</summary>
    public static IEnumerable<object[]> Names => All.Select(c => new object[] { c.Name });

    public static GoldenCase Get(string name) => All.Single(c => c.Name == name);

    private static List<GoldenCase> Load(string fixtureDir)
    {
        var cases = GoldenManifest.Load(fixtureDir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtureDir, "manifest.json")));
        var sizes = doc.RootElement.GetProperty("cases").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        return cases.Select(c =>
        {
            var json = sizes[c.Name];
            var model = json.GetProperty("model_input_size_wh");
            var output = json.GetProperty("output_size_wh");
            return new GoldenCase(c, json.GetProperty("resize_flag").GetBoolean(),
                model[0].GetInt32(), model[1].GetInt32(), output[0].GetInt32(), output[1].GetInt32());
        }).ToList();
    }

    /// <summary>The `pisa upscale` arguments for this case (the CLI's names are the options' enum names, lower case).</summary>
    public string[] CliArgs(string sdDir, string lora, string output, string? dump, string device = "cpu")
    {
        var o = Options;
        static string Int(int v) => v.ToString(CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            "upscale", Input, "-o", output, "--model", sdDir, "--lora", lora,
            "--mode", o.Mode.ToString().ToLowerInvariant(),
            "--prompt", o.Prompt, "--color-fix", o.ColorFix.ToString().ToLowerInvariant(),
            "--upscale", Int(o.Upscale), "--process-size", Int(o.ProcessSize),
            "--latent-tile", Int(o.LatentTile), "--latent-overlap", Int(o.LatentOverlap),
            "--vae-encoder-tile", Int(o.VaeEncoderTile), "--vae-decoder-tile", Int(o.VaeDecoderTile),
            "--device", device,
        };
        // The default mode takes no lambdas (giving one is a usage error).
        if (o.Mode != LoraMode.Default)
            args.AddRange(["--lambda-pix", o.LambdaPix.ToString("R", CultureInfo.InvariantCulture), "--lambda-sem", o.LambdaSem.ToString("R", CultureInfo.InvariantCulture)]);
        if (dump != null) { args.Add("--dump-tensors"); args.Add(dump); }
        return args.ToArray();
    }
}
