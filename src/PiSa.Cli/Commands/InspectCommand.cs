using System.Globalization;
using PiSa.Engine;
using PiSa.Engine.Formats;
using PiSa.Engine.Formats.Pickle;
using PiSa.Engine.Lora;
using PiSa.Engine.Tensors;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa inspect FILE`: lists the tensors (name, dtype, shape, parameter count) and metadata of a safetensors
/// file or a torch.save checkpoint (told apart by content: zip magic vs an 8-byte header length), plus ranks
/// and module counts when the file is a PiSA-SR LoRA checkpoint. Bad input throws PisaException.
/// </summary>
public static class InspectCommand
{
    public static int Run(string file, TextWriter output)
    {
        if (!File.Exists(file)) throw new PisaException($"'{file}': file not found");
        if (TorchCheckpoint.LooksLikeZip(file)) InspectTorch(file, output);
        else InspectSafetensors(file, output);
        return 0;
    }

    private static void InspectSafetensors(string file, TextWriter o)
    {
        using var st = SafetensorsFile.Open(file);
        long total = st.Entries.Sum(e => e.ElementCount);
        o.WriteLine($"{file}: safetensors, {st.Entries.Count} tensors, {Count(total)} parameters");
        if (st.Metadata.Count > 0)
        {
            o.WriteLine("metadata:");
            foreach (var (k, v) in st.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                o.WriteLine($"  {k} = {Abbreviate(v)}");
        }
        o.WriteLine("tensors:");
        foreach (var e in st.Entries)
            o.WriteLine($"  {e.Name}  {SafetensorsDTypes.Name(e.DType)}  [{ShapeUtil.Format(e.Shape)}]  {Count(e.ElementCount)}");
        if (PisaCheckpoint.IsPisaMetadata(st.Metadata))
            WritePisaSummary(PisaCheckpoint.FromSafetensors(st), o);
    }

    private static void InspectTorch(string file, TextWriter o)
    {
        var ckpt = TorchCheckpoint.Load(file);
        var tensors = new List<(string Path, HostTensor Tensor)>();
        var others = new List<string>();
        Walk(ckpt.Root, "", tensors, others, new Dictionary<object, string>(ReferenceEqualityComparer.Instance));
        long total = tensors.Sum(t => t.Tensor.Count);
        o.WriteLine($"{file}: torch checkpoint (zip), {tensors.Count} tensors, {Count(total)} parameters");
        if (others.Count > 0)
        {
            o.WriteLine("values:");
            foreach (var line in others) o.WriteLine("  " + line);
        }
        o.WriteLine("tensors:");
        foreach (var (path, t) in tensors)
            o.WriteLine($"  {path}  {TorchElementTypes.Name(ckpt.TensorTypes[t])}  [{ShapeUtil.Format(t.Shape)}]  {Count(t.Count)}");
        if (PisaCheckpoint.IsPisaRoot(ckpt.Root))
            WritePisaSummary(PisaCheckpoint.FromTorch(ckpt), o);
    }

    /// <summary>
    /// Collects tensors with their key paths ('/'-joined) and summarises the other values. A container met a
    /// second time (a memo reference) is listed as a reference to where it was first seen, never walked again:
    /// the walk costs the size of the object graph, not of the tree it would expand to (a "billion laughs"
    /// pickle of 40 nested lists each holding its child twice is 40 containers here, not 2^40 leaves).
    /// </summary>
    private static void Walk(object? v, string path, List<(string, HostTensor)> tensors, List<string> others, Dictionary<object, string> seen)
    {
        // Depth is bounded by the unpickler's nesting cap, so recursion is safe here.
        if (v is PickleDict or List<object?> or PickleTuple)
        {
            if (seen.TryGetValue(v, out var first))
            {
                others.Add($"{Label(path)} = same object as {Label(first)}");
                return;
            }
            seen[v] = path;
        }
        switch (v)
        {
            case HostTensor t:
                tensors.Add((path, t));
                break;
            case PickleDict d:
                foreach (var (k, child) in d) Walk(child, Join(path, Convert.ToString(k, CultureInfo.InvariantCulture)!), tensors, others, seen);
                break;
            case List<object?> l when l.Any(x => x is HostTensor or PickleDict or List<object?> or PickleTuple):
            case PickleTuple when ((IReadOnlyList<object?>)v).Any(x => x is HostTensor or PickleDict or List<object?> or PickleTuple):
                var items = (IReadOnlyList<object?>)v;
                for (int i = 0; i < items.Count; i++) Walk(items[i], Join(path, i.ToString(CultureInfo.InvariantCulture)), tensors, others, seen);
                break;
            case List<object?> l:
                others.Add($"{Label(path)} = list of {l.Count}{Preview(l)}");
                break;
            case PickleTuple t:
                others.Add($"{Label(path)} = tuple of {t.Count}{Preview(t)}");
                break;
            default:
                others.Add($"{Label(path)} = {Scalar(v)}");
                break;
        }
    }

    private static void WritePisaSummary(PisaCheckpoint p, TextWriter o)
    {
        o.WriteLine("PiSA-SR LoRA checkpoint:");
        o.WriteLine($"  lora_alpha {p.LoraAlpha.ToString(CultureInfo.InvariantCulture)}; rank pix {p.RankPix} (scaling {p.ScalingPix.ToString(CultureInfo.InvariantCulture)}), rank sem {p.RankSem} (scaling {p.ScalingSem.ToString(CultureInfo.InvariantCulture)})");
        foreach (var kind in LoraModuleLists.Kinds)
        {
            var lists = p.Lists(kind);
            int conv = p.AdaptersOf(kind).Count(a => a.A.Rank == 4), linear = p.AdaptersOf(kind).Count(a => a.A.Rank == 2);
            long parameters = p.AdaptersOf(kind).Sum(a => a.A.Count + a.B.Count);
            o.WriteLine($"  {kind.ToString().ToLowerInvariant()}: modules encoder {lists.Encoder.Count}, decoder {lists.Decoder.Count}, others {lists.Others.Count} " +
                        $"(total {lists.Count}: {conv} conv, {linear} linear; {Count(parameters)} LoRA parameters)");
        }
    }

    private static string Join(string path, string key) => path.Length == 0 ? key : path + "/" + key;
    private static string Label(string path) => path.Length == 0 ? "(root)" : path;

    private static string Preview(IReadOnlyList<object?> items) =>
        items.Count == 0 ? "" : ": " + Abbreviate(string.Join(", ", items.Take(4).Select(Scalar)) + (items.Count > 4 ? ", ..." : ""));

    private static string Scalar(object? v) => v switch
    {
        null => "None",
        string s => "'" + s + "'",
        bool b => b ? "True" : "False",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture),
        PickleDict d => $"dict of {d.Count}",
        List<object?> l => $"list of {l.Count}",
        PickleTuple t => $"tuple of {t.Count}",
        _ => v.ToString() ?? "",
    };

    private static string Abbreviate(string s) => s.Length <= 160 ? s : s[..157] + "...";

    private static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
