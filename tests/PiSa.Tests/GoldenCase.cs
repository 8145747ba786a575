using System.Globalization;
using System.Text.Json;

namespace PiSa.Tests;

/// <summary>
/// The cases of tests/fixtures/pisa-tiny/manifest.json: the CLI options each stands for, the sizes the
/// official preprocessing gave, and where its expected PNG and tensors are.
/// </summary>
public sealed record GoldenCase(
    string Name, string Input, string Mode, float LambdaPix, float LambdaSem, string Prompt, int ProcessSize, int Upscale,
    string ColorFix, int LatentTile, int LatentOverlap, int VaeEncoderTile, int VaeDecoderTile,
    bool ResizeFlag, int ModelWidth, int ModelHeight, int OutputWidth, int OutputHeight,
    string ExpectedPng, string ExpectedTensors)
{
    public override string ToString() => Name;

    public static IReadOnlyList<GoldenCase> All { get; } = Load(FixturePaths.Tiny);

    /// <summary>The case names, as xunit MemberData rows.</summary>
    public static IEnumerable<object[]> Names => All.Select(c => new object[] { c.Name });

    public static GoldenCase Get(string name) => All.Single(c => c.Name == name);

    private static List<GoldenCase> Load(string fixtureDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtureDir, "manifest.json")));
        var list = new List<GoldenCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            float Lambda(string key) => c.GetProperty(key).ValueKind == JsonValueKind.Null ? 1f : c.GetProperty(key).GetSingle();
            var model = c.GetProperty("model_input_size_wh");
            var output = c.GetProperty("output_size_wh");
            var expected = c.GetProperty("expected");
            list.Add(new GoldenCase(
                c.GetProperty("name").GetString()!,
                Path.Combine(fixtureDir, c.GetProperty("input").GetString()!),
                c.GetProperty("mode").GetString()!,
                Lambda("lambda_pix"), Lambda("lambda_sem"),
                c.GetProperty("prompt").GetString()!,
                c.GetProperty("process_size").GetInt32(),
                c.GetProperty("upscale").GetInt32(),
                c.GetProperty("align_method").GetString()!,
                c.GetProperty("latent_tiled_size").GetInt32(),
                c.GetProperty("latent_tiled_overlap").GetInt32(),
                c.GetProperty("vae_encoder_tiled_size").GetInt32(),
                c.GetProperty("vae_decoder_tiled_size").GetInt32(),
                c.GetProperty("resize_flag").GetBoolean(),
                model[0].GetInt32(), model[1].GetInt32(),
                output[0].GetInt32(), output[1].GetInt32(),
                Path.Combine(fixtureDir, expected.GetProperty("png").GetString()!),
                Path.Combine(fixtureDir, expected.GetProperty("tensors").GetString()!)));
        }
        return list;
    }

    /// <summary>The `pisa upscale` arguments for this case.</summary>
    public string[] CliArgs(string sdDir, string lora, string output, string? dump, string device = "cpu")
    {
        var args = new List<string>
        {
            "upscale", Input, "-o", output, "--model", sdDir, "--lora", lora,
            "--mode", Mode,
            "--prompt", Prompt, "--color-fix", ColorFix == "nofix" ? "none" : ColorFix,
            "--upscale", Upscale.ToString(), "--process-size", ProcessSize.ToString(),
            "--latent-tile", LatentTile.ToString(), "--latent-overlap", LatentOverlap.ToString(),
            "--vae-encoder-tile", VaeEncoderTile.ToString(), "--vae-decoder-tile", VaeDecoderTile.ToString(),
            "--device", device,
        };
        // The default mode takes no lambdas (giving one is a usage error).
        if (Mode != "default")
            args.AddRange(["--lambda-pix", LambdaPix.ToString("R", CultureInfo.InvariantCulture), "--lambda-sem", LambdaSem.ToString("R", CultureInfo.InvariantCulture)]);
        if (dump != null) { args.Add("--dump-tensors"); args.Add(dump); }
        return args.ToArray();
    }
}
