namespace PiSa.Engine.Lora;

/// <summary>The three module-name lists of one LoRA kind, as the checkpoint stores them (authoritative).</summary>
public sealed record LoraModuleLists(IReadOnlyList<string> Encoder, IReadOnlyList<string> Decoder, IReadOnlyList<string> Others)
{
    public IReadOnlyList<string> Get(LoraGroup group) => group switch
    {
        LoraGroup.Encoder => Encoder,
        LoraGroup.Decoder => Decoder,
        _ => Others,
    };

    public int Count => Encoder.Count + Decoder.Count + Others.Count;

    /// <summary>The checkpoint key of a list, e.g. unet_lora_encoder_modules_pix.</summary>
    public static string KeyOf(LoraGroup group, LoraKind kind) =>
        $"unet_lora_{group.ToString().ToLowerInvariant()}_modules_{kind.ToString().ToLowerInvariant()}";

    public static string RankKeyOf(LoraKind kind) => $"lora_rank_unet_{kind.ToString().ToLowerInvariant()}";

    public static readonly LoraGroup[] Groups = [LoraGroup.Encoder, LoraGroup.Decoder, LoraGroup.Others];
    public static readonly LoraKind[] Kinds = [LoraKind.Pix, LoraKind.Sem];
}
