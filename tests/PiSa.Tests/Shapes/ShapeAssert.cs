using System.Text.Json;
using PiSa.Engine.Models.Descriptions;

namespace PiSa.Tests.Shapes;

internal static class ShapeAssert
{
    /// <summary>An ordered name -> shape list from a JSON object of arrays (tensor_shapes.json sections).</summary>
    public static List<(string Name, int[] Shape)> FromJsonObject(JsonElement obj) =>
        obj.EnumerateObject().Select(p => (p.Name, p.Value.EnumerateArray().Select(e => e.GetInt32()).ToArray())).ToList();

    public static string Fmt(int[] s) => "[" + string.Join(",", s) + "]";

    /// <summary>
    /// Asserts both sides list exactly the same names with the same shapes, reporting the first few
    /// differences by name (more useful than a bare count mismatch).
    /// </summary>
    public static void SameNamesAndShapes(IEnumerable<(string Name, int[] Shape)> expected, IEnumerable<ParamSpec> actual, string what)
    {
        var exp = expected.ToDictionary(e => e.Name, e => e.Shape, StringComparer.Ordinal);
        var act = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var p in actual) Assert.True(act.TryAdd(p.Name, p.Shape), $"{what}: duplicate name {p.Name}");
        var problems = new List<string>();
        foreach (var (n, s) in exp)
        {
            if (!act.TryGetValue(n, out var a)) problems.Add($"missing {n} {Fmt(s)}");
            else if (!a.SequenceEqual(s)) problems.Add($"{n}: expected {Fmt(s)}, described {Fmt(a)}");
        }
        foreach (var (n, s) in act)
            if (!exp.ContainsKey(n)) problems.Add($"extra {n} {Fmt(s)}");
        Assert.True(problems.Count == 0, $"{what}: {problems.Count} differences, e.g.\n" + string.Join("\n", problems.Take(15)));
    }
}
