using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace PiSa.Tests.Shapes;

/// <summary>
/// A deliberately minimal safetensors reader for tests of this area (the engine's own reader lives in
/// Formats): 8-byte little-endian header length, JSON header, raw data. Only what the tests need.
/// </summary>
internal sealed class MiniSafetensors
{
    public sealed record Entry(string Dtype, int[] Shape, long Begin, long End);

    public Dictionary<string, Entry> Tensors { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);
    private readonly byte[] _bytes;
    private readonly long _dataStart;

    public MiniSafetensors(string path)
    {
        _bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(_bytes);
        _dataStart = 8 + n;
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(_bytes, 8, (int)n));
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                foreach (var m in p.Value.EnumerateObject()) Metadata[m.Name] = m.Value.GetString()!;
                continue;
            }
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Tensors[p.Name] = new Entry(p.Value.GetProperty("dtype").GetString()!, shape, off[0], off[1]);
        }
    }

    public long[] ReadI64(string name)
    {
        var e = Tensors[name];
        Assert.Equal("I64", e.Dtype);
        var span = _bytes.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin));
        var result = new long[span.Length / 8];
        for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..]);
        return result;
    }
}
