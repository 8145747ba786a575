using System.Text.Json;

namespace PiSa.Tests.Imaging;

/// <summary>The pisa-tiny cases from manifest.json, as far as the imaging steps need them.</summary>
public sealed record GoldenCase(string Name, string Input, int Upscale, int ProcessSize, bool ResizeFlag,
    int ModelWidth, int ModelHeight, int OutputWidth, int OutputHeight, string Align, string TensorsPath, string PngPath)
{
    public override string ToString() => Name;

    public static IReadOnlyList<GoldenCase> All { get; } = Load();

    public static IEnumerable<object[]> Names => All.Select(c => new object[] { c.Name });

    public static GoldenCase Get(string name) => All.Single(c => c.Name == name);

    private static List<GoldenCase> Load()
    {
        string dir = FixturePaths.Tiny;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")));
        var list = new List<GoldenCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var model = c.GetProperty("model_input_size_wh");
            var output = c.GetProperty("output_size_wh");
            var expected = c.GetProperty("expected");
            list.Add(new GoldenCase(
                c.GetProperty("name").GetString()!,
                Path.Combine(dir, c.GetProperty("input").GetString()!),
                c.GetProperty("upscale").GetInt32(),
                c.GetProperty("process_size").GetInt32(),
                c.GetProperty("resize_flag").GetBoolean(),
                model[0].GetInt32(), model[1].GetInt32(),
                output[0].GetInt32(), output[1].GetInt32(),
                c.GetProperty("align_method").GetString()!,
                Path.Combine(dir, expected.GetProperty("tensors").GetString()!),
                Path.Combine(dir, expected.GetProperty("png").GetString()!)));
        }
        return list;
    }
}
