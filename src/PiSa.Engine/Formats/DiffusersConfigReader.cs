using System.Text.Json;

namespace PiSa.Engine.Formats;

/// <summary>
/// Typed access to the fields of one config.json object (JsonDocument, no reflection). Every getter
/// takes the library's default for an omitted field; a JSON <c>null</c> counts as omitted, as Python's
/// keyword defaults do. Every error is a one-line <see cref="PisaException"/> naming the file, the field
/// and the value.
/// </summary>
internal sealed class DiffusersConfigReader
{
    private readonly JsonElement _root;

    public string Source { get; }

    public DiffusersConfigReader(string json, string source)
    {
        Source = source;
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            _root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new PisaException($"{source}: not valid JSON ({e.Message.Split('\n')[0]})", e);
        }
        if (_root.ValueKind != JsonValueKind.Object)
            throw new PisaException($"{source}: expected a JSON object at the top level, found {_root.ValueKind}");
        JsonStrings.RequireValid(_root, why => new PisaException($"{source}: {why}"));
    }

    /// <summary>The field, or null when it is absent or JSON null.</summary>
    public JsonElement? Raw(string field) =>
        _root.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public bool Has(string field) => Raw(field) is not null;

    /// <summary>True when the key is present with a JSON null (for the few fields where null means "none").</summary>
    public bool IsExplicitNull(string field) => _root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Null;

    /// <summary>The field's JSON text, for error messages.</summary>
    public string Show(string field) => Raw(field)?.GetRawText() ?? "null";

    public PisaException Refuse(string field, string why) =>
        new($"{Source}: {field} = {Show(field)}: {why}");

    public int Int(string field, int dflt)
    {
        var v = Raw(field);
        return v is null ? dflt : AsInt(field, v.Value);
    }

    /// <summary>
    /// A count or dimension, refused outside [<paramref name="min"/>, <paramref name="max"/>]: every size the
    /// model is built from goes through here (or <see cref="CheckCount"/>), so no config value reaches an
    /// allocation or a loop bound unchecked.
    /// </summary>
    public int Count(string field, int dflt, int min, int max) => CheckCount(field, Int(field, dflt), min, max);

    /// <summary>Refuses <paramref name="value"/> (read from <paramref name="field"/>) outside [min, max].</summary>
    public int CheckCount(string field, int value, int min, int max) =>
        value >= min && value <= max ? value : throw Refuse(field, $"must be between {min} and {max}");

    /// <summary>A list of counts, each in [min, max], with at most <paramref name="maxLength"/> entries.</summary>
    public int[] CountList(string field, int[] dflt, int min, int max, int maxLength)
    {
        var list = IntList(field, dflt);
        if (list.Length > maxLength) throw Refuse(field, $"has {list.Length} entries (at most {maxLength})");
        foreach (int v in list)
            if (v < min || v > max) throw Refuse(field, $"every entry must be between {min} and {max}");
        return list;
    }

    public float Float(string field, float dflt)
    {
        var v = Raw(field);
        if (v is null) return dflt;
        if (v.Value.ValueKind != JsonValueKind.Number || !v.Value.TryGetDouble(out var d))
            throw Refuse(field, "expected a number");
        return (float)d;
    }

    public bool Bool(string field, bool dflt)
    {
        var v = Raw(field);
        if (v is null) return dflt;
        return v.Value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Refuse(field, "expected true or false"),
        };
    }

    public string? String(string field, string? dflt)
    {
        var v = Raw(field);
        if (v is null) return dflt;
        if (v.Value.ValueKind != JsonValueKind.String) throw Refuse(field, "expected a string");
        return v.Value.GetString();
    }

    public int[] IntList(string field, int[] dflt)
    {
        var v = Raw(field);
        if (v is null) return (int[])dflt.Clone();
        if (v.Value.ValueKind != JsonValueKind.Array) throw Refuse(field, "expected a list of integers");
        var list = new List<int>();
        foreach (var e in v.Value.EnumerateArray()) list.Add(AsInt(field, e));
        return list.ToArray();
    }

    public string[] StringList(string field, string[] dflt)
    {
        var v = Raw(field);
        if (v is null) return (string[])dflt.Clone();
        if (v.Value.ValueKind != JsonValueKind.Array) throw Refuse(field, "expected a list of strings");
        var list = new List<string>();
        foreach (var e in v.Value.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String) throw Refuse(field, "expected a list of strings");
            list.Add(e.GetString()!);
        }
        return list.ToArray();
    }

    /// <summary>
    /// A diffusers "int or one value per block" field, expanded to <paramref name="blocks"/> values
    /// (an int applies to every block, as diffusers repeats it).
    /// </summary>
    public int[] IntOrPerBlock(string field, int dflt, int blocks)
    {
        var v = Raw(field);
        if (v is null) return Enumerable.Repeat(dflt, blocks).ToArray();
        if (v.Value.ValueKind == JsonValueKind.Number) return Enumerable.Repeat(AsInt(field, v.Value), blocks).ToArray();
        var list = IntList(field, []);
        if (list.Length != blocks)
            throw Refuse(field, $"expected one value per block ({blocks} blocks)");
        return list;
    }

    /// <summary>An "int or per-block list" field the engine supports only when every block has the same value.</summary>
    public int UniformInt(string field, int dflt, int blocks)
    {
        var values = IntOrPerBlock(field, dflt, blocks);
        if (values.Any(x => x != values[0]))
            throw Refuse(field, "different values per block are not supported");
        return values[0];
    }

    /// <summary>Refuses the field unless it is omitted/null.</summary>
    public void RequireAbsent(string field, string what)
    {
        if (Has(field)) throw Refuse(field, $"{what} is not supported");
    }

    /// <summary>Refuses a bool-or-per-block-list field if any value is true.</summary>
    public void RequireAllFalse(string field, string what)
    {
        var v = Raw(field);
        if (v is null) return;
        bool anyTrue = v.Value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Array => v.Value.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.True),
            _ => throw Refuse(field, "expected true/false or a list of them"),
        };
        if (anyTrue) throw Refuse(field, $"{what} is not supported");
    }

    /// <summary>Refuses a string field whose value is not one of <paramref name="allowed"/> (the first is the default).</summary>
    public string OneOf(string field, params string[] allowed)
    {
        var s = String(field, allowed[0])!;
        if (!allowed.Contains(s, StringComparer.Ordinal))
            throw Refuse(field, "not supported (supported: " + string.Join(", ", allowed) + ")");
        return s;
    }

    private int AsInt(string field, JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Number)
        {
            if (e.TryGetInt32(out int i)) return i;
            // Python configs sometimes write integral values as floats (1.0).
            if (e.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
        }
        throw new PisaException($"{Source}: {field} = {e.GetRawText()}: expected an integer");
    }
}
