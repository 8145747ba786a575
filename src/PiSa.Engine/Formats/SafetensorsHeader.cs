using System.Text;
using System.Text.Json;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Formats;

/// <summary>
/// Parses and validates the JSON header of a safetensors file. Nothing in the header is trusted: every
/// field is checked before anything uses it, so a reader can index the data section without further checks.
/// </summary>
public static class SafetensorsHeader
{
    /// <summary>Largest header we accept (the reference implementation uses the same 100 MB cap).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public sealed record Parsed(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata);

    /// <param name="json">the header bytes (without the 8-byte length prefix)</param>
    /// <param name="dataLength">bytes in the data section (file length - 8 - header length)</param>
    /// <param name="file">file name for error messages</param>
    public static Parsed Parse(ReadOnlySpan<byte> json, long dataLength, string file)
    {
        // System.Text.Json checks strings only when they are read (then as InvalidOperationException):
        // the encoding of the whole header first, every string's escapes right after parsing.
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new PisaException($"safetensors '{file}': header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            // JsonDocument.Parse wants memory it can keep; the header is small (capped), so copy it.
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new PisaException($"safetensors '{file}': header is not valid JSON ({FirstLine(e.Message)})");
        }

        using (doc)
        {
            var root = doc.RootElement;
            JsonStrings.RequireValid(root, why => new PisaException($"safetensors '{file}': header: {why}"));
            if (root.ValueKind != JsonValueKind.Object)
                throw new PisaException($"safetensors '{file}': header is a JSON {root.ValueKind}, expected an object");

            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var prop in root.EnumerateObject())
            {
                string name = prop.Name;
                if (name == "__metadata__")
                {
                    if (sawMetadata) throw new PisaException($"safetensors '{file}': duplicate __metadata__");
                    sawMetadata = true;
                    ParseMetadata(prop.Value, metadata, file);
                    continue;
                }
                if (!seen.Add(name)) throw new PisaException($"safetensors '{file}': tensor '{name}' appears twice in the header");
                entries.Add(ParseEntry(name, prop.Value, dataLength, file));
            }
            CheckNoOverlap(entries, file);
            return new Parsed(entries, metadata);
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string file)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new PisaException($"safetensors '{file}': __metadata__ is a JSON {value.ValueKind}, expected an object of strings");
        foreach (var m in value.EnumerateObject())
        {
            string key = m.Name;
            if (m.Value.ValueKind != JsonValueKind.String)
                throw new PisaException($"safetensors '{file}': __metadata__ key '{key}' is a JSON {m.Value.ValueKind}, expected a string");
            if (!metadata.TryAdd(key, m.Value.GetString()!))
                throw new PisaException($"safetensors '{file}': __metadata__ key '{key}' appears twice");
        }
    }

    private static SafetensorsEntry ParseEntry(string name, JsonElement value, long dataLength, string file)
    {
        string where = $"safetensors '{file}': tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw new PisaException($"{where}: header entry is a JSON {value.ValueKind}, expected an object");

        if (!value.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new PisaException($"{where}: missing or non-string 'dtype'");
        string dtypeText = dtypeEl.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeText, out var dtype))
            throw new PisaException($"{where}: unknown dtype '{dtypeText}'");

        if (!value.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new PisaException($"{where}: missing or non-array 'shape'");
        var shape = new int[shapeEl.GetArrayLength()];
        long numel = 1;
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0 || dim > int.MaxValue)
                throw new PisaException($"{where}: shape entry {i} is not a dimension (0 .. 2^31-1): {d.GetRawText()}");
            shape[i++] = (int)dim;
            // numel must stay representable: beyond 2^62 it cannot be a real tensor anyway.
            if (dim != 0 && numel > (long.MaxValue / 8) / dim)
                throw new PisaException($"{where}: shape [{string.Join(", ", shape.Take(i))}...] overflows the element count");
            numel *= dim;
        }

        if (!value.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new PisaException($"{where}: 'data_offsets' must be an array [begin, end]");
        long begin = ReadOffset(offEl[0], where), end = ReadOffset(offEl[1], where);
        if (begin > end)
            throw new PisaException($"{where}: data_offsets [{begin}, {end}] are not ordered");
        if (end > dataLength)
            throw new PisaException($"{where}: data_offsets [{begin}, {end}] run past the data section ({dataLength} bytes)");
        long expected = numel * SafetensorsDTypes.SizeOf(dtype); // numel <= 2^62/8: no overflow
        if (end - begin != expected)
            throw new PisaException($"{where}: data_offsets [{begin}, {end}] hold {end - begin} bytes but {SafetensorsDTypes.Name(dtype)} [{ShapeUtil.Format(shape)}] needs {expected}");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static long ReadOffset(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v) || v < 0)
            throw new PisaException($"{where}: data offset {e.GetRawText()} is not a non-negative integer");
        return v;
    }

    private static void CheckNoOverlap(List<SafetensorsEntry> entries, string file)
    {
        var sorted = entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ToArray();
        for (int i = 1; i < sorted.Length; i++)
        {
            if (sorted[i].Begin < sorted[i - 1].End)
                throw new PisaException($"safetensors '{file}': tensor '{sorted[i].Name}' data [{sorted[i].Begin}, {sorted[i].End}] overlaps tensor '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End}]");
        }
    }

    internal static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        return nl < 0 ? s : s[..nl];
    }

    internal static string Utf8(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);
}
