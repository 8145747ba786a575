using System.Text.Json;

namespace PiSa.Engine.Formats;

/// <summary>
/// System.Text.Json decodes string escapes lazily: a document holding a lone surrogate escape ("\ud800",
/// in a value or a property name) parses, and then GetString, Name or even TryGetProperty throws
/// InvalidOperationException wherever it is first touched. Untrusted JSON (headers, configs, metadata) is
/// checked once, whole, right after parsing, so every later read is safe.
/// </summary>
public static class JsonStrings
{
    /// <summary>Throws <paramref name="fail"/>(description) when any string or property name is not valid Unicode.</summary>
    public static void RequireValid(JsonElement root, Func<string, PisaException> fail)
    {
        // Recursion depth is the document's, which JsonDocument caps (MaxDepth, 64 by default).
        switch (root.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in root.EnumerateObject())
                {
                    try { _ = p.Name; }
                    catch (InvalidOperationException) { throw fail("a key holds a lone UTF-16 surrogate escape (not valid Unicode)"); }
                    RequireValid(p.Value, fail);
                }
                break;
            case JsonValueKind.Array:
                foreach (var e in root.EnumerateArray()) RequireValid(e, fail);
                break;
            case JsonValueKind.String:
                try { _ = root.GetString(); }
                catch (InvalidOperationException) { throw fail("a string holds a lone UTF-16 surrogate escape (not valid Unicode)"); }
                break;
        }
    }
}
