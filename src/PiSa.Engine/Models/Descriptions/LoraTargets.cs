using PiSa.Engine.Lora;

namespace PiSa.Engine.Models.Descriptions;

/// <summary>
/// One UNet module carrying LoRA adapters: its name (the base weight is <c>Module + ".weight"</c>),
/// its group, the base weight shape, and the peft 0.9 A/B shapes at <see cref="Rank"/>
/// (Linear: A [r, in], B [out, r]; Conv2d: A [r, in, kh, kw], B [out, r, 1, 1]).
/// </summary>
public sealed record LoraModule(string Module, LoraGroup Group, int[] WeightShape, int Rank)
{
    public bool IsConv => WeightShape.Length == 4;
    public int[] AShape => IsConv ? [Rank, WeightShape[1], WeightShape[2], WeightShape[3]] : [Rank, WeightShape[1]];
    public int[] BShape => IsConv ? [WeightShape[0], Rank, 1, 1] : [WeightShape[0], Rank];
    public string AName(LoraKind kind) => LoraAdapter.TensorNameA(Module, Group, kind);
    public string BName(LoraKind kind) => LoraAdapter.TensorNameB(Module, Group, kind);
}

/// <summary>
/// The PiSA-SR LoRA targets, by the rule of the official initialize_unet: walk the UNet's parameters in
/// order, skip any whose name contains "bias" or "norm", keep those whose name contains one of
/// <see cref="Patterns"/>; a kept module is "encoder" if its name contains down_blocks or conv_in,
/// else "decoder" if it contains up_blocks or conv_out, else "others" (mid block). So the down/up
/// samplers' ".conv" are targets, while time_embedding and time_emb_proj are not.
/// The checkpoint's own module lists stay authoritative; this is the expectation to check them against.
/// </summary>
public static class LoraTargets
{
    public static readonly IReadOnlyList<string> Patterns =
        ["to_k", "to_q", "to_v", "to_out.0", "conv", "conv1", "conv2", "conv_in", "conv_shortcut", "conv_out", "proj_out", "proj_in", "ff.net.2", "ff.net.0.proj"];

    /// <summary>The group of a UNet parameter name, or null when the rule does not target it.</summary>
    public static LoraGroup? Classify(string paramName)
    {
        if (paramName.Contains("bias", StringComparison.Ordinal) || paramName.Contains("norm", StringComparison.Ordinal)) return null;
        bool hit = false;
        foreach (var p in Patterns)
            if (paramName.Contains(p, StringComparison.Ordinal)) { hit = true; break; }
        if (!hit) return null;
        if (paramName.Contains("down_blocks", StringComparison.Ordinal) || paramName.Contains("conv_in", StringComparison.Ordinal)) return LoraGroup.Encoder;
        if (paramName.Contains("up_blocks", StringComparison.Ordinal) || paramName.Contains("conv_out", StringComparison.Ordinal)) return LoraGroup.Decoder;
        return LoraGroup.Others;
    }

    /// <summary>The targeted modules in UNet parameter order, with their group and LoRA shapes at one rank.</summary>
    public static IReadOnlyList<LoraModule> Build(UNetConfig config, int rank)
    {
        if (rank <= 0) throw new PisaException($"LoRA rank must be positive, got {rank}");
        var list = new List<LoraModule>();
        foreach (var p in UNetDescription.Build(config))
        {
            if (!p.Name.EndsWith(".weight", StringComparison.Ordinal)) continue;
            if (Classify(p.Name) is not LoraGroup g) continue;
            list.Add(new LoraModule(p.Name[..^".weight".Length], g, p.Shape, rank));
        }
        return list;
    }

    /// <summary>Module names of one group, as the checkpoint's unet_lora_{group}_modules_{kind} lists hold them.</summary>
    public static IReadOnlyList<string> ModuleNames(UNetConfig config, LoraGroup group) =>
        Build(config, 1).Where(m => m.Group == group).Select(m => m.Module).ToList();

    /// <summary>
    /// Every tensor of the release checkpoint's state_dict_unet, in its order: per module (UNet order)
    /// lora_A for the pix then sem adapter of its group, then lora_B likewise.
    /// </summary>
    public static IReadOnlyList<ParamSpec> StateDict(UNetConfig config, int rankPix, int rankSem)
    {
        var pix = Build(config, rankPix);
        var sem = Build(config, rankSem);
        var list = new List<ParamSpec>();
        for (int i = 0; i < pix.Count; i++)
        {
            var (mp, ms) = (pix[i], sem[i]);
            list.Add(new ParamSpec(mp.AName(LoraKind.Pix), mp.AShape));
            list.Add(new ParamSpec(ms.AName(LoraKind.Sem), ms.AShape));
            list.Add(new ParamSpec(mp.BName(LoraKind.Pix), mp.BShape));
            list.Add(new ParamSpec(ms.BName(LoraKind.Sem), ms.BShape));
        }
        return list;
    }
}
