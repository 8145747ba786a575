using System.Text.Json;
using PiSa.Engine.Imaging;

namespace PiSa.Engine.Pipeline;

/// <summary>One case of a golden fixture set (tests/fixtures/pisa-tiny/manifest.json layout): its input, the
/// options the official run used, and where its expected PNG and intermediates are.</summary>
public sealed record GoldenCase(string Name, string InputPath, UpscaleOptions Options, string ExpectedPng, string ExpectedTensors)
{
    public override string ToString() => Name;
}

/// <summary>Reads a golden fixture manifest (JsonDocument: no reflection, NativeAOT-safe).</summary>
public static class GoldenManifest
{
    public static IReadOnlyList<GoldenCase> Load(string fixtureDir)
    {
        string path = Path.Combine(fixtureDir, "manifest.json");
        if (!File.Exists(path)) throw new PisaException($"no golden manifest at {path}");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var list = new List<GoldenCase>();
            foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            {
                float Lambda(string key) => c.GetProperty(key).ValueKind == JsonValueKind.Null ? 1f : c.GetProperty(key).GetSingle();
                var options = new UpscaleOptions
                {
                    Mode = c.GetProperty("mode").GetString() switch
                    {
                        "adjustable" => LoraMode.Adjustable,
                        "default" => LoraMode.Default,
                        var m => throw new PisaException($"{path}: unknown mode '{m}'"),
                    },
                    LambdaPix = Lambda("lambda_pix"),
                    LambdaSem = Lambda("lambda_sem"),
                    Prompt = c.GetProperty("prompt").GetString() ?? "",
                    ColorFix = c.GetProperty("align_method").GetString() switch
                    {
                        "adain" => ColorFixMethod.AdaIn,
                        "wavelet" => ColorFixMethod.Wavelet,
                        _ => ColorFixMethod.None,
                    },
                    Upscale = c.GetProperty("upscale").GetInt32(),
                    ProcessSize = c.GetProperty("process_size").GetInt32(),
                    LatentTile = c.GetProperty("latent_tiled_size").GetInt32(),
                    LatentOverlap = c.GetProperty("latent_tiled_overlap").GetInt32(),
                    VaeEncoderTile = c.GetProperty("vae_encoder_tiled_size").GetInt32(),
                    VaeDecoderTile = c.GetProperty("vae_decoder_tiled_size").GetInt32(),
                };
                var expected = c.GetProperty("expected");
                list.Add(new GoldenCase(
                    c.GetProperty("name").GetString()!,
                    Path.Combine(fixtureDir, c.GetProperty("input").GetString()!),
                    options,
                    Path.Combine(fixtureDir, expected.GetProperty("png").GetString()!),
                    Path.Combine(fixtureDir, expected.GetProperty("tensors").GetString()!)));
            }
            return list;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new PisaException($"{path}: not a golden manifest ({e.Message})");
        }
    }
}
