using System.CommandLine;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Cli.Commands;

/// <summary>
/// The per-image processing options of `pisa upscale`, also taken by `pisa serve` as the defaults a request may
/// override: one definition of names, defaults and help, bound to <see cref="UpscaleOptions"/>.
/// </summary>
public sealed class ProcessingOptions
{
    public Option<string> Mode { get; } = Choice("--mode", "default (one pass, W_pisa), adjustable (official two-pass), fused (one pass, approximate)", "default", "default", "adjustable", "fused");
    public Option<float> LambdaPix { get; } = new("--lambda-pix") { Description = "pixel-level (fidelity) scale", DefaultValueFactory = _ => 1f };
    public Option<float> LambdaSem { get; } = new("--lambda-sem") { Description = "semantic-level (detail) scale", DefaultValueFactory = _ => 1f };
    public Option<string> Prompt { get; } = new("--prompt") { Description = "text prompt (default empty, as the official script)", DefaultValueFactory = _ => "" };
    public Option<string> ColorFix { get; } = Choice("--color-fix", "colour correction against the input", "adain", "adain", "wavelet", "none");
    public Option<int> Upscale { get; } = new("--upscale") { Description = "scale factor", DefaultValueFactory = _ => 4 };
    public Option<int> ProcessSize { get; } = new("--process-size") { Description = "inputs smaller than process-size/upscale are first enlarged (official resize_flag path)", DefaultValueFactory = _ => 512 };
    public Option<int> LatentTile { get; } = new("--latent-tile") { Description = "UNet tile size in latent pixels", DefaultValueFactory = _ => 96 };
    public Option<int> LatentOverlap { get; } = new("--latent-overlap") { Description = "UNet tile overlap in latent pixels", DefaultValueFactory = _ => 32 };
    public Option<int> VaeEncoderTile { get; } = new("--vae-encoder-tile") { Description = "VAE encoder tile size in pixels", DefaultValueFactory = _ => 1024 };
    public Option<int> VaeDecoderTile { get; } = new("--vae-decoder-tile") { Description = "VAE decoder tile size in latent pixels", DefaultValueFactory = _ => 224 };

    public IEnumerable<Option> All => [Mode, LambdaPix, LambdaSem, Prompt, ColorFix, Upscale, ProcessSize, LatentTile, LatentOverlap, VaeEncoderTile, VaeDecoderTile];

    public void AddTo(Command cmd)
    {
        foreach (var o in All) cmd.Add(o);
    }

    public UpscaleOptions Bind(ParseResult r) => new()
    {
        Mode = r.GetValue(Mode) switch { "adjustable" => LoraMode.Adjustable, "fused" => LoraMode.Fused, _ => LoraMode.Default },
        LambdaPix = r.GetValue(LambdaPix),
        LambdaSem = r.GetValue(LambdaSem),
        Prompt = r.GetValue(Prompt) ?? "",
        ColorFix = r.GetValue(ColorFix) switch { "wavelet" => ColorFixMethod.Wavelet, "none" => ColorFixMethod.None, _ => ColorFixMethod.AdaIn },
        Upscale = r.GetValue(Upscale),
        ProcessSize = r.GetValue(ProcessSize),
        LatentTile = r.GetValue(LatentTile),
        LatentOverlap = r.GetValue(LatentOverlap),
        VaeEncoderTile = r.GetValue(VaeEncoderTile),
        VaeDecoderTile = r.GetValue(VaeDecoderTile),
    };

    private static Option<string> Choice(string name, string description, string fallback, params string[] values)
    {
        var o = new Option<string>(name) { Description = description, DefaultValueFactory = _ => fallback };
        o.AcceptOnlyFromAmong(values);
        return o;
    }
}
