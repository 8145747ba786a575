using System.Globalization;
using System.Text;
using System.Text.Json;
using PiSa.Engine.Formats;
using PiSa.Engine.Formats.Pickle;
using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Lora;

/// <summary>
/// The PiSA-SR LoRA checkpoint: module lists and ranks of the pixel and semantic LoRAs and their A/B
/// tensors, read from the official <c>pisa_sr.pkl</c> (torch zip) or the equivalent
/// <c>pisa_sr.safetensors</c> (lists and ranks as JSON strings in <c>__metadata__</c>). Both give identical
/// objects. Every tensor must belong to a listed module and every listed module must have both tensors.
/// </summary>
public sealed class PisaCheckpoint
{
    /// <summary>peft's default lora_alpha: PiSA-SR builds its LoraConfigs without setting it.</summary>
    public const float DefaultLoraAlpha = 8;
    public const string StateDictKey = "state_dict_unet";
    public const string AlphaKey = "lora_alpha";

    public string Source { get; }
    public LoraModuleLists Pix { get; }
    public LoraModuleLists Sem { get; }
    public int RankPix { get; }
    public int RankSem { get; }
    public float LoraAlpha { get; }
    /// <summary>Every LoRA tensor by its state-dict name (<c>&lt;module&gt;.lora_A.&lt;adapter&gt;.weight</c>), in file order.</summary>
    public IReadOnlyDictionary<string, HostTensor> Tensors { get; }
    /// <summary>All adapters: pixel ones (encoder, decoder, others lists in order) then semantic ones.</summary>
    public IReadOnlyList<LoraAdapter> Adapters { get; }

    public float ScalingPix => LoraAlpha / RankPix;
    public float ScalingSem => LoraAlpha / RankSem;
    public LoraModuleLists Lists(LoraKind kind) => kind == LoraKind.Pix ? Pix : Sem;
    public int Rank(LoraKind kind) => kind == LoraKind.Pix ? RankPix : RankSem;
    public IEnumerable<LoraAdapter> AdaptersOf(LoraKind kind) => Adapters.Where(a => a.Kind == kind);

    private PisaCheckpoint(string source, LoraModuleLists pix, LoraModuleLists sem, int rankPix, int rankSem,
        float alpha, IReadOnlyDictionary<string, HostTensor> tensors)
    {
        Source = source;
        Pix = pix;
        Sem = sem;
        if (rankPix < 1 || rankSem < 1) throw new PisaException($"PiSA checkpoint '{source}': LoRA ranks {rankPix}/{rankSem} must be positive");
        if (!(alpha > 0) || float.IsInfinity(alpha)) throw new PisaException($"PiSA checkpoint '{source}': lora_alpha {alpha} must be positive");
        RankPix = rankPix;
        RankSem = rankSem;
        LoraAlpha = alpha;
        Tensors = tensors;
        Adapters = BuildAdapters();
    }

    private List<LoraAdapter> BuildAdapters()
    {
        var adapters = new List<LoraAdapter>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kind in LoraModuleLists.Kinds)
        {
            int rank = Rank(kind);
            float scaling = LoraAlpha / rank;
            foreach (var group in LoraModuleLists.Groups)
            {
                foreach (string module in Lists(kind).Get(group))
                {
                    string nameA = LoraAdapter.TensorNameA(module, group, kind), nameB = LoraAdapter.TensorNameB(module, group, kind);
                    if (!used.Add(nameA))
                        throw new PisaException($"PiSA checkpoint '{Source}': module '{module}' is listed twice in {LoraModuleLists.KeyOf(group, kind)}");
                    used.Add(nameB);
                    var a = Tensors.GetValueOrDefault(nameA) ?? throw new PisaException($"PiSA checkpoint '{Source}': listed module '{module}' has no tensor '{nameA}'");
                    var b = Tensors.GetValueOrDefault(nameB) ?? throw new PisaException($"PiSA checkpoint '{Source}': listed module '{module}' has no tensor '{nameB}'");
                    if (a.Rank < 2 || a.Dim(0) != rank)
                        throw new PisaException($"PiSA checkpoint '{Source}': '{nameA}' [{ShapeUtil.Format(a.Shape)}] does not have rank {rank} ({LoraModuleLists.RankKeyOf(kind)})");
                    var adapter = new LoraAdapter(module, kind, group, a, b, scaling);
                    adapters.Add(adapter);
                }
            }
        }
        foreach (string name in Tensors.Keys)
            if (!used.Contains(name))
                throw new PisaException($"PiSA checkpoint '{Source}': tensor '{name}' belongs to no listed module/adapter");
        return adapters;
    }

    /// <summary>A checkpoint from lists, ranks and tensors already in memory (e.g. random ones for benchmarks);
    /// the same checks as a loaded one: every listed module needs both tensors at its rank, no stray tensors.</summary>
    public static PisaCheckpoint Create(string source, LoraModuleLists pix, LoraModuleLists sem, int rankPix, int rankSem,
        IReadOnlyDictionary<string, HostTensor> tensors, float loraAlpha = DefaultLoraAlpha)
        => new(source, pix, sem, rankPix, rankSem, loraAlpha, tensors);

    // ---- loading -----------------------------------------------------------------------------------

    /// <summary>Loads a .pkl (torch zip) or .safetensors checkpoint, detected by content, not by extension.</summary>
    public static PisaCheckpoint Load(string path)
    {
        if (!File.Exists(path)) throw new PisaException($"PiSA checkpoint '{path}': file not found");
        if (TorchCheckpoint.LooksLikeZip(path)) return FromTorch(TorchCheckpoint.Load(path));
        using var st = SafetensorsFile.Open(path);
        return FromSafetensors(st);
    }

    /// <summary>True when a safetensors header carries the PiSA metadata keys.</summary>
    public static bool IsPisaMetadata(IReadOnlyDictionary<string, string> metadata) =>
        metadata.ContainsKey(LoraModuleLists.KeyOf(LoraGroup.Encoder, LoraKind.Pix)) && metadata.ContainsKey(LoraModuleLists.RankKeyOf(LoraKind.Pix));

    /// <summary>True when an unpickled root looks like a PiSA checkpoint dict.</summary>
    public static bool IsPisaRoot(object? root) =>
        root is PickleDict d && d.ContainsKey(StateDictKey) && d.ContainsKey(LoraModuleLists.RankKeyOf(LoraKind.Pix));

    public static PisaCheckpoint FromTorch(TorchCheckpoint ckpt)
    {
        string src = ckpt.Path;
        if (ckpt.Root is not PickleDict root)
            throw new PisaException($"PiSA checkpoint '{src}': top-level object is a {RestrictedUnpickler_TypeName(ckpt.Root)}, expected a dict");

        object? Need(string key) => root.TryGetValue(key, out var v) ? v : throw new PisaException($"PiSA checkpoint '{src}': missing key '{key}'");

        LoraModuleLists ReadLists(LoraKind kind) => new(
            StringList(Need(LoraModuleLists.KeyOf(LoraGroup.Encoder, kind)), LoraModuleLists.KeyOf(LoraGroup.Encoder, kind)),
            StringList(Need(LoraModuleLists.KeyOf(LoraGroup.Decoder, kind)), LoraModuleLists.KeyOf(LoraGroup.Decoder, kind)),
            StringList(Need(LoraModuleLists.KeyOf(LoraGroup.Others, kind)), LoraModuleLists.KeyOf(LoraGroup.Others, kind)));

        IReadOnlyList<string> StringList(object? v, string key)
        {
            if (v is not List<object?> list) throw new PisaException($"PiSA checkpoint '{src}': '{key}' is a {RestrictedUnpickler_TypeName(v)}, expected a list of module names");
            var r = new List<string>(list.Count);
            foreach (var item in list)
                r.Add(item as string ?? throw new PisaException($"PiSA checkpoint '{src}': '{key}' holds a {RestrictedUnpickler_TypeName(item)}, expected module names"));
            return r;
        }

        int ReadRank(LoraKind kind)
        {
            string key = LoraModuleLists.RankKeyOf(kind);
            return Need(key) is long r && r is > 0 and <= 65536 ? (int)r : throw new PisaException($"PiSA checkpoint '{src}': '{key}' is not a positive int");
        }

        float alpha = DefaultLoraAlpha;
        if (root.TryGetValue(AlphaKey, out var alphaValue))
            alpha = alphaValue switch { long l => l, double d => (float)d, _ => throw new PisaException($"PiSA checkpoint '{src}': '{AlphaKey}' is not a number") };

        if (Need(StateDictKey) is not PickleDict sd)
            throw new PisaException($"PiSA checkpoint '{src}': '{StateDictKey}' is not a dict");
        var tensors = new Dictionary<string, HostTensor>(sd.Count, StringComparer.Ordinal);
        foreach (var (k, v) in sd)
        {
            if (k is not string name) throw new PisaException($"PiSA checkpoint '{src}': '{StateDictKey}' has a non-string key {k}");
            tensors[name] = v as HostTensor ?? throw new PisaException($"PiSA checkpoint '{src}': '{StateDictKey}.{name}' is a {RestrictedUnpickler_TypeName(v)}, not a tensor");
        }
        return new PisaCheckpoint(src, ReadLists(LoraKind.Pix), ReadLists(LoraKind.Sem), ReadRank(LoraKind.Pix), ReadRank(LoraKind.Sem), alpha, tensors);
    }

    public static PisaCheckpoint FromSafetensors(SafetensorsFile file)
    {
        string src = file.Path;
        var md = file.Metadata;
        string Need(string key) => md.TryGetValue(key, out var v) ? v : throw new PisaException($"PiSA checkpoint '{src}': __metadata__ has no '{key}'");

        IReadOnlyList<string> ParseList(string key)
        {
            try
            {
                using var doc = JsonDocument.Parse(Need(key));
                if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new PisaException($"PiSA checkpoint '{src}': metadata '{key}' is not a JSON array");
                JsonStrings.RequireValid(doc.RootElement, why => new PisaException($"PiSA checkpoint '{src}': metadata '{key}': {why}"));
                var r = new List<string>(doc.RootElement.GetArrayLength());
                foreach (var e in doc.RootElement.EnumerateArray())
                    r.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new PisaException($"PiSA checkpoint '{src}': metadata '{key}' holds a non-string"));
                return r;
            }
            catch (JsonException e)
            {
                throw new PisaException($"PiSA checkpoint '{src}': metadata '{key}' is not valid JSON ({SafetensorsHeader.FirstLine(e.Message)})");
            }
        }

        LoraModuleLists ReadLists(LoraKind kind) => new(
            ParseList(LoraModuleLists.KeyOf(LoraGroup.Encoder, kind)),
            ParseList(LoraModuleLists.KeyOf(LoraGroup.Decoder, kind)),
            ParseList(LoraModuleLists.KeyOf(LoraGroup.Others, kind)));

        int ReadRank(LoraKind kind)
        {
            string key = LoraModuleLists.RankKeyOf(kind);
            return int.TryParse(Need(key), NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r is > 0 and <= 65536
                ? r : throw new PisaException($"PiSA checkpoint '{src}': metadata '{key}' = '{md[key]}' is not a positive int");
        }

        float alpha = DefaultLoraAlpha;
        if (md.TryGetValue(AlphaKey, out var alphaText) &&
            !float.TryParse(alphaText, NumberStyles.Float, CultureInfo.InvariantCulture, out alpha))
            throw new PisaException($"PiSA checkpoint '{src}': metadata '{AlphaKey}' = '{alphaText}' is not a number");

        var tensors = new Dictionary<string, HostTensor>(file.Entries.Count, StringComparer.Ordinal);
        foreach (var e in file.Entries) tensors[e.Name] = file.ReadFloat(e.Name);
        return new PisaCheckpoint(src, ReadLists(LoraKind.Pix), ReadLists(LoraKind.Sem), ReadRank(LoraKind.Pix), ReadRank(LoraKind.Sem), alpha, tensors);
    }

    // ---- saving ------------------------------------------------------------------------------------

    /// <summary>The <c>__metadata__</c> the safetensors form carries (the fixture's convention: Python json.dumps lists).</summary>
    public Dictionary<string, string> ToMetadata()
    {
        var md = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kind in LoraModuleLists.Kinds)
        {
            foreach (var group in LoraModuleLists.Groups)
                md[LoraModuleLists.KeyOf(group, kind)] = PythonJsonList(Lists(kind).Get(group));
            md[LoraModuleLists.RankKeyOf(kind)] = Rank(kind).ToString(CultureInfo.InvariantCulture);
        }
        md[AlphaKey] = LoraAlpha.ToString(CultureInfo.InvariantCulture);
        md["format"] = "pt";
        return md;
    }

    /// <summary>Writes the safetensors form (F32) under a temporary name, then renames it into place.</summary>
    public void SaveSafetensors(string path) => SafetensorsWriter.Write(path, Tensors, ToMetadata());

    private static string PythonJsonList(IReadOnlyList<string> items)
    {
        // json.dumps(list) layout: ["a", "b"]; names are escaped as JSON strings.
        var sb = new StringBuilder("[");
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append('"').Append(JsonEncodedText.Encode(items[i]).Value).Append('"');
        }
        return sb.Append(']').ToString();
    }

    // ---- checks against the UNet ---------------------------------------------------------------------

    /// <summary>
    /// Every adapter's module must have a weight <c>&lt;module&gt;.weight</c> in the UNet with a shape A and B fit.
    /// Uses stored shapes (no conversion) when the UNet comes from safetensors.
    /// </summary>
    public void ValidateAgainst(IWeightSource unet)
    {
        foreach (var a in Adapters)
        {
            if (!unet.Contains(a.WeightName))
                throw new PisaException($"PiSA checkpoint '{Source}': LoRA module '{a.Module}' ({LoraModuleLists.KeyOf(a.Group, a.Kind)}) has no weight '{a.WeightName}' in the UNet");
            int[] shape = unet.ShapeOf(a.WeightName);
            a.CheckShapes(shape);
        }
    }

    private static string RestrictedUnpickler_TypeName(object? v) => RestrictedUnpickler.TypeName(v);
}
