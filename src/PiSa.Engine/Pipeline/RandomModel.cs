using PiSa.Engine.Backends;
using PiSa.Engine.Formats;
using PiSa.Engine.Lora;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Descriptions;
using PiSa.Engine.Tensors;
using PiSa.Engine.Text;

namespace PiSa.Engine.Pipeline;

/// <summary>
/// A <see cref="PisaModel"/> with deterministic random weights at the shapes of given configs (normally the real
/// SD 2.1-base ones), for speed measurements and smoke tests when the real weights are not at hand. The UNet, VAE
/// and text encoder tensors come from <see cref="RandomWeights"/> over the model descriptions; the LoRA checkpoint
/// has the release's structure (every targeted module in both the pixel and the semantic lists of its group,
/// ranks 4/4 by default) with random A/B tensors. Same seed, same model.
/// </summary>
public static class RandomModel
{
    public const ulong DefaultSeed = 0x5EED_0F_B1A5UL;

    /// <summary>
    /// Builds from a folder holding unet/config.json, vae/config.json and text_encoder/config.json. The tokenizer is
    /// loaded from <paramref name="tokenizerDir"/> when given; without one the model encodes only the empty prompt
    /// (fixed ids, see <see cref="PisaModel.PromptEmbeddings"/>).
    /// </summary>
    public static PisaModel Create(IOps ops, string configDir, string? tokenizerDir = null, ulong seed = DefaultSeed,
        int rankPix = 4, int rankSem = 4)
    {
        string Need(string rel)
        {
            string p = Path.Combine(configDir, rel);
            return File.Exists(p) ? p : throw new PisaException($"config file missing: {p} (a config folder needs unet/, vae/ and text_encoder/config.json)");
        }
        var unetCfg = DiffusersConfig.LoadUNet(Need("unet/config.json"));
        var vaeCfg = DiffusersConfig.LoadVae(Need("vae/config.json"));
        var textCfg = DiffusersConfig.LoadClipText(Need("text_encoder/config.json"));
        var tokenizer = tokenizerDir != null ? ClipTokenizer.Load(tokenizerDir) : null;
        return Create(ops, unetCfg, vaeCfg, textCfg, tokenizer, seed, rankPix, rankSem);
    }

    public static PisaModel Create(IOps ops, UNetConfig unetCfg, VaeConfig vaeCfg, ClipTextConfig textCfg,
        ClipTokenizer? tokenizer, ulong seed = DefaultSeed, int rankPix = 4, int rankSem = 4)
    {
        var w = Sources(unetCfg, vaeCfg, textCfg, seed, rankPix, rankSem);
        return new PisaModel(ops, unetCfg, w.Unet, vaeCfg, w.Vae, textCfg, w.Text, tokenizer, w.Lora);
    }

    /// <summary>The weight sets of a random model (what <see cref="Create(IOps, UNetConfig, VaeConfig, ClipTextConfig, ClipTokenizer?, ulong, int, int)"/>
    /// builds it from): `pisa export-random` writes them out for the PyTorch reference.</summary>
    public sealed record WeightSets(IWeightSource Unet, IWeightSource Vae, IWeightSource Text, PisaCheckpoint Lora);

    public static WeightSets Sources(UNetConfig unetCfg, VaeConfig vaeCfg, ClipTextConfig textCfg, ulong seed = DefaultSeed, int rankPix = 4, int rankSem = 4) =>
        // Distinct seeds per model so that equal names in two models do not get equal values.
        new(RandomWeights.Source(Specs(UNetDescription.Build(unetCfg)), seed, "random unet"),
            RandomWeights.Source(Specs(VaeDescription.Build(vaeCfg)), seed + 1, "random vae"),
            RandomWeights.Source(Specs(ClipTextDescription.Build(textCfg)), seed + 2, "random text_encoder"),
            Checkpoint(unetCfg, rankPix, rankSem, seed + 3));

    /// <summary>A random checkpoint with the release's module lists (the same modules for pix and sem) and tensor names.</summary>
    public static PisaCheckpoint Checkpoint(UNetConfig unetCfg, int rankPix, int rankSem, ulong seed)
    {
        var lists = new LoraModuleLists(
            LoraTargets.ModuleNames(unetCfg, LoraGroup.Encoder),
            LoraTargets.ModuleNames(unetCfg, LoraGroup.Decoder),
            LoraTargets.ModuleNames(unetCfg, LoraGroup.Others));
        var tensors = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var spec in LoraTargets.StateDict(unetCfg, rankPix, rankSem))
            tensors[spec.Name] = RandomWeights.Make(spec.Name, spec.Shape, seed);
        return PisaCheckpoint.Create($"random LoRA (seed {seed})", lists, lists, rankPix, rankSem, tensors);
    }

    private static IEnumerable<(string Name, int[] Shape)> Specs(IEnumerable<ParamSpec> specs) =>
        specs.Select(s => (s.Name, s.Shape));
}
