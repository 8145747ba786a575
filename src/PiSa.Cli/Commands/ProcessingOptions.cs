using System.CommandLine;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Cli.Commands;

/// <summary>
/// The per-image processing options of `pisa upscale`, also taken by `pisa serve` as the defaults a request may
/// override: one definition of names, aliases, defaults and help, bound to <see cref="UpscaleOptions"/>. The mode
/// is case-insensitive and defaults to adjustable when a lambda is given; the lambdas may be comma-separated lists
/// (a grid), which only `pisa upscale` takes (<see cref="BindGrid"/>).
/// </summary>
public sealed class ProcessingOptions
{
    public Option<string> Mode { get; } = Choices.Create("--mode", "default (one pass, W_pisa), adjustable (official two-pass), fused (one pass, approximate); default unless a lambda is given, then adjustable", null, "default", "adjustable", "fused");
    public Option<string?> LambdaPix { get; } = new("--lambda-pix") { Description = "pixel-level (fidelity) scale, or a comma-separated list for a grid (adjustable and fused modes; implies adjustable)" };
    public Option<string?> LambdaSem { get; } = new("--lambda-sem") { Description = "semantic-level (detail) scale, or a comma-separated list for a grid (adjustable and fused modes; implies adjustable)" };
    public Option<string> Prompt { get; } = new("--prompt") { Description = "text prompt (default empty, as the official script)", DefaultValueFactory = _ => "" };
    public Option<string> ColorFix { get; } = Choices.Create("--color-fix", "colour correction against the input", "adain", "adain", "wavelet", "none");
    public Option<int> Upscale { get; } = new("--upscale", "-s") { Description = "scale factor", DefaultValueFactory = _ => 4 };
    public Option<int> ProcessSize { get; } = new("--process-size") { Description = "inputs smaller than process-size/upscale are first enlarged (official resize_flag path)", DefaultValueFactory = _ => 512 };
    public Option<int> LatentTile { get; } = new("--latent-tile", "-t", "--tile") { Description = "UNet tile size in latent pixels; 0 = the largest that fits the memory budget (pisa upscale, CPU)", DefaultValueFactory = _ => 96 };
    public Option<int> LatentOverlap { get; } = new("--latent-overlap") { Description = "UNet tile overlap in latent pixels", DefaultValueFactory = _ => 32 };
    public Option<int> VaeEncoderTile { get; } = new("--vae-encoder-tile") { Description = "VAE encoder tile size in pixels", DefaultValueFactory = _ => 1024 };
    public Option<int> VaeDecoderTile { get; } = new("--vae-decoder-tile") { Description = "VAE decoder tile size in latent pixels", DefaultValueFactory = _ => 224 };

    public IEnumerable<Option> All => [Mode, LambdaPix, LambdaSem, Prompt, ColorFix, Upscale, ProcessSize, LatentTile, LatentOverlap, VaeEncoderTile, VaeDecoderTile];

    public void AddTo(Command cmd)
    {
        foreach (var o in All) cmd.Add(o);
    }

    /// <summary>One set of options (`pisa serve`'s defaults): a lambda list is a usage error.</summary>
    public UpscaleOptions Bind(ParseResult r)
    {
        var (options, pixes, sems) = BindGrid(r);
        if (pixes.Length > 1 || sems.Length > 1)
            throw new UsageException("--lambda-pix and --lambda-sem take one value here (a lambda grid is for pisa upscale)");
        return options;
    }

    /// <summary>The options (at the first lambdas) and every lambda given; usage mistakes throw <see cref="UsageException"/>.</summary>
    public (UpscaleOptions Options, float[] Pixes, float[] Sems) BindGrid(ParseResult r)
    {
        var pixes = LambdaList.Parse("--lambda-pix", r.GetValue(LambdaPix));
        var sems = LambdaList.Parse("--lambda-sem", r.GetValue(LambdaSem));
        string? modeName = r.GetValue(Mode);
        bool lambdaGiven = pixes != null || sems != null;
        if (modeName == "default" && lambdaGiven)
            throw new UsageException("--lambda-pix and --lambda-sem need --mode adjustable or fused; --mode default merges both adapters at 1");
        var loraMode = modeName switch
        {
            "fused" => LoraMode.Fused,
            "adjustable" => LoraMode.Adjustable,
            "default" => LoraMode.Default,
            // The official code runs the adjustable mode unless told --default: a lambda means the user wants it.
            _ => lambdaGiven ? LoraMode.Adjustable : LoraMode.Default,
        };
        pixes ??= [1f];
        sems ??= [1f];
        var options = new UpscaleOptions
        {
            Mode = loraMode,
            LambdaPix = pixes[0],
            LambdaSem = sems[0],
            Prompt = r.GetValue(Prompt) ?? "",
            ColorFix = r.GetValue(ColorFix) switch { "wavelet" => ColorFixMethod.Wavelet, "none" => ColorFixMethod.None, _ => ColorFixMethod.AdaIn },
            Upscale = r.GetValue(Upscale),
            ProcessSize = r.GetValue(ProcessSize),
            LatentTile = r.GetValue(LatentTile),
            LatentOverlap = r.GetValue(LatentOverlap),
            VaeEncoderTile = r.GetValue(VaeEncoderTile),
            VaeDecoderTile = r.GetValue(VaeDecoderTile),
        };
        return (options, pixes, sems);
    }
}
