namespace PiSa.Engine.Models.Descriptions;

/// <summary>
/// Checks stored tensors against a description before any compute, so a wrong or mismatched weight
/// file fails with one clear line instead of deep inside a forward pass.
/// </summary>
public static class ParamCheck
{
    /// <summary>
    /// Throws a <see cref="PisaException"/> naming <paramref name="source"/> and the first missing tensor
    /// (buffers may be absent) or the first shape mismatch. Returns the stored names the description does
    /// not know (extra tensors), in sorted order, for the caller to ignore or refuse.
    /// </summary>
    public static IReadOnlyList<string> Verify(IReadOnlyList<ParamSpec> expected, IReadOnlyDictionary<string, int[]> stored, string source)
    {
        var missing = new List<ParamSpec>();
        foreach (var p in expected)
        {
            if (!stored.TryGetValue(p.Name, out var shape))
            {
                if (!p.IsBuffer) missing.Add(p);
                continue;
            }
            if (!shape.AsSpan().SequenceEqual(p.Shape))
                throw new PisaException($"{source}: tensor '{p.Name}' has shape [{string.Join(",", shape)}] but the config needs [{string.Join(",", p.Shape)}]");
        }
        if (missing.Count > 0)
        {
            var first = missing[0];
            string more = missing.Count > 1 ? $" (and {missing.Count - 1} more)" : "";
            throw new PisaException($"{source}: missing tensor '{first.Name}' [{string.Join(",", first.Shape)}]{more}");
        }
        var known = new HashSet<string>(expected.Select(p => p.Name), StringComparer.Ordinal);
        return stored.Keys.Where(k => !known.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
    }

    /// <summary>The same check against a loaded weight source.</summary>
    public static IReadOnlyList<string> Verify(IReadOnlyList<ParamSpec> expected, IWeightSource weights, string source) =>
        Verify(expected, weights.Names.ToDictionary(n => n, weights.ShapeOf, StringComparer.Ordinal), source);
}
