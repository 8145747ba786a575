using System.Globalization;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Serve;

/// <summary>A request the server refuses, with the HTTP status to answer and a one-line reason.</summary>
public sealed class RequestRefusedException(int status, string message) : Exception(message)
{
    public int Status => status;
}

/// <summary>
/// The processing parameters a request may set (query string, JSON body fields or OIP parameters, same names):
/// everything per image that `pisa upscale` takes, bounded so one request cannot ask for unbounded work, and
/// nothing that names a file: an unknown name is refused, not ignored.
/// </summary>
public static class RequestParameters
{
    public static readonly string[] Names =
    [
        "mode", "lambda_pix", "lambda_sem", "prompt", "color_fix", "upscale", "process_size",
        "latent_tile", "latent_overlap", "vae_encoder_tile", "vae_decoder_tile", "format",
    ];

    public const int MaxPromptChars = 1000;

    public static (UpscaleOptions Options, ImageFormat Format) Apply(UpscaleOptions defaults, IEnumerable<KeyValuePair<string, string>> parameters)
    {
        var o = defaults;
        var format = ImageFormat.Png;
        foreach (var (key, value) in parameters)
        {
            o = key switch
            {
                "mode" => o with { Mode = value switch
                {
                    "default" => LoraMode.Default, "adjustable" => LoraMode.Adjustable, "fused" => LoraMode.Fused,
                    _ => throw Bad($"mode must be default, adjustable or fused, got '{value}'"),
                } },
                "lambda_pix" => o with { LambdaPix = Float(key, value, -10, 10) },
                "lambda_sem" => o with { LambdaSem = Float(key, value, -10, 10) },
                "prompt" => value.Length <= MaxPromptChars ? o with { Prompt = value } : throw Bad($"prompt is longer than {MaxPromptChars} characters"),
                "color_fix" => o with { ColorFix = value switch
                {
                    "adain" => ColorFixMethod.AdaIn, "wavelet" => ColorFixMethod.Wavelet, "none" => ColorFixMethod.None,
                    _ => throw Bad($"color_fix must be adain, wavelet or none, got '{value}'"),
                } },
                "upscale" => o with { Upscale = Int(key, value, 1, 8) },
                "process_size" => o with { ProcessSize = Int(key, value, 8, 2048) },
                "latent_tile" => o with { LatentTile = Int(key, value, 8, 256) },
                "latent_overlap" => o with { LatentOverlap = Int(key, value, 0, 255) },
                "vae_encoder_tile" => o with { VaeEncoderTile = Int(key, value, 64, 4096) },
                "vae_decoder_tile" => o with { VaeDecoderTile = Int(key, value, 8, 1024) },
                "format" => SetFormat(o, value, out format),
                _ => throw Bad($"unknown parameter '{key}' (known: {string.Join(", ", Names)})"),
            };
        }
        try { o.Validate(); }
        catch (Engine.PisaException e) { throw Bad(e.Message.Replace("--", "").Replace('-', '_')); }
        return (o, format);
    }

    public static string ContentType(ImageFormat f) => f switch
    {
        ImageFormat.Png => "image/png",
        ImageFormat.Jpeg => "image/jpeg",
        ImageFormat.Bmp => "image/bmp",
        ImageFormat.Tga => "image/x-tga",
        _ => "application/octet-stream",
    };

    private static UpscaleOptions SetFormat(UpscaleOptions o, string value, out ImageFormat format)
    {
        format = value switch
        {
            "png" => ImageFormat.Png, "jpeg" or "jpg" => ImageFormat.Jpeg, "bmp" => ImageFormat.Bmp, "tga" => ImageFormat.Tga,
            _ => throw Bad($"format must be png, jpeg, bmp or tga, got '{value}'"),
        };
        return o;
    }

    private static float Float(string key, string value, float lo, float hi) =>
        float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out float f) && float.IsFinite(f) && f >= lo && f <= hi
            ? f : throw Bad($"{key} must be a number in [{lo}, {hi}], got '{value}'");

    private static int Int(string key, string value, int lo, int hi) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) && i >= lo && i <= hi
            ? i : throw Bad($"{key} must be an integer in [{lo}, {hi}], got '{value}'");

    private static RequestRefusedException Bad(string message) => new(400, message);
}
