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
    /// <summary>Weight files looked at in a folder (config and tokenizer files are not weights).</summary>
    private static readonly string[] WeightExtensions = [".safetensors", ".pkl", ".pt", ".pth", ".bin", ".ckpt"];

    public static int Run(string path, TextWriter output) => Run(path, output, json: false);

    /// <summary>A file, or a folder (every weight file in it, recursively, a summary first); as text or JSON.</summary>
    public static int Run(string path, TextWriter output, bool json)
    {
        List<string> files;
        if (Directory.Exists(path))
        {
            files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .Where(f => WeightExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .OrderBy(f => f, StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new PisaException($"'{path}': no weight files ({string.Join(", ", WeightExtensions)}) in this folder");
        }
        else if (File.Exists(path)) files = [path];
        else throw new PisaException($"'{path}': file not found");

        var reports = files.Select(Inspect).ToList();
        if (json) WriteJson(path, reports, output);
        else
        {
            if (Directory.Exists(path))
            {
                output.WriteLine($"{path}: {reports.Count} weight file(s), {Count(reports.Sum(r => r.Parameters))} parameters");
                foreach (var r in reports) output.WriteLine($"  {Path.GetRelativePath(path, r.File)}: {r.Kind}, {r.Tensors.Count} tensors, {Count(r.Parameters)} parameters");
                output.WriteLine();
            }
            foreach (var r in reports) WriteText(r, output);
        }
        return 0;
    }

    /// <summary>What inspect found in one file.</summary>
    private sealed record Report(string File, string Kind, List<(string Name, string DType, int[] Shape, long Count)> Tensors,
        List<(string Key, string Value)> Values, PisaCheckpoint? Pisa)
    {
        public long Parameters => Tensors.Sum(t => t.Count);
    }

    private static Report Inspect(string file)
    {
        if (TorchCheckpoint.LooksLikeZip(file)) return InspectTorch(file);
        if (LooksLikeSafetensors(file)) return InspectSafetensors(file);
        throw new PisaException($"'{file}' is not a PyTorch checkpoint or safetensors file");
    }

    private static void WriteText(Report r, TextWriter o)
    {
        o.WriteLine($"{r.File}: {r.Kind}, {r.Tensors.Count} tensors, {Count(r.Parameters)} parameters");
        if (r.Pisa != null) WritePisaSummary(r.Pisa, o);
        if (r.Values.Count > 0)
        {
            o.WriteLine(r.Kind == "safetensors" ? "metadata:" : "values:");
            foreach (var (k, v) in r.Values) o.WriteLine($"  {k} = {v}");
        }
        o.WriteLine("tensors:");
        foreach (var t in r.Tensors) o.WriteLine($"  {t.Name}  {t.DType}  [{ShapeUtil.Format(t.Shape)}]  {Count(t.Count)}");
    }

    private static void WriteJson(string path, List<Report> reports, TextWriter o)
    {
        var buffer = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("path", path);
            w.WriteNumber("parameters", reports.Sum(r => r.Parameters));
            w.WriteStartArray("files");
            foreach (var r in reports)
            {
                w.WriteStartObject();
                w.WriteString("file", r.File);
                w.WriteString("format", r.Kind);
                w.WriteNumber("tensor_count", r.Tensors.Count);
                w.WriteNumber("parameters", r.Parameters);
                if (r.Pisa is { } p)
                {
                    w.WriteStartObject("pisa");
                    w.WriteNumber("rank_pix", p.RankPix);
                    w.WriteNumber("rank_sem", p.RankSem);
                    w.WriteNumber("lora_alpha", p.LoraAlpha);
                    w.WriteNumber("modules_pix", p.Pix.Count);
                    w.WriteNumber("modules_sem", p.Sem.Count);
                    w.WriteEndObject();
                }
                w.WriteStartObject(r.Kind == "safetensors" ? "metadata" : "values");
                foreach (var (k, v) in r.Values) w.WriteString(k, v);
                w.WriteEndObject();
                w.WriteStartArray("tensors");
                foreach (var t in r.Tensors)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteString("dtype", t.DType);
                    w.WriteStartArray("shape");
                    foreach (int d in t.Shape) w.WriteNumberValue(d);
                    w.WriteEndArray();
                    w.WriteNumber("parameters", t.Count);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        o.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>A safetensors file starts with an 8-byte header length and then the JSON header's '{'; anything
    /// else is not one (and is named as such instead of reporting a meaningless header length).</summary>
    internal static bool LooksLikeSafetensors(string file)
    {
        using var f = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 16);
        var head = new byte[9];
        if (f.Length < 9 || f.ReadAtLeast(head, 9, throwOnEndOfStream: false) < 9) return false;
        return head[8] == (byte)'{';
    }

    private static Report InspectSafetensors(string file)
    {
        using var st = SafetensorsFile.Open(file);
        var tensors = st.Entries.Select(e => (e.Name, SafetensorsDTypes.Name(e.DType), e.Shape, e.ElementCount)).ToList();
        var values = st.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, Abbreviate(kv.Value))).ToList();
        var pisa = PisaCheckpoint.IsPisaMetadata(st.Metadata) ? PisaCheckpoint.FromSafetensors(st) : null;
        return new Report(file, "safetensors", tensors, values, pisa);
    }

    private static Report InspectTorch(string file)
    {
        var ckpt = TorchCheckpoint.Load(file);
        var found = new List<(string Path, HostTensor Tensor)>();
        var others = new List<string>();
        Walk(ckpt.Root, "", found, others, new Dictionary<object, string>(ReferenceEqualityComparer.Instance));
        var tensors = found.Select(t => (t.Path, TorchElementTypes.Name(ckpt.TensorTypes[t.Tensor]), t.Tensor.Shape, t.Tensor.Count)).ToList();
        var values = others.Select(line => { int eq = line.IndexOf(" = ", StringComparison.Ordinal); return (line[..eq], line[(eq + 3)..]); }).ToList();
        var pisa = PisaCheckpoint.IsPisaRoot(ckpt.Root) ? PisaCheckpoint.FromTorch(ckpt) : null;
        return new Report(file, "torch checkpoint (zip)", tensors, values, pisa);
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
