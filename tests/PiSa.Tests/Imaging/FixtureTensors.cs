using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace PiSa.Tests.Imaging;

/// <summary>
/// Minimal test-only safetensors reader (F32 and U8 only) for the golden case files, so the imaging
/// tests do not depend on the engine's Formats reader being merged.
/// </summary>
internal sealed class FixtureTensors
{
    private readonly byte[] _file;
    private readonly long _dataStart;
    private readonly Dictionary<string, (string Dtype, int[] Shape, long Begin, long End)> _entries = new();

    public FixtureTensors(string path)
    {
        _file = File.ReadAllBytes(path);
        long headerLen = (long)BinaryPrimitives.ReadUInt64LittleEndian(_file);
        _dataStart = 8 + headerLen;
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(_file, 8, (int)headerLen));
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            _entries[p.Name] = (p.Value.GetProperty("dtype").GetString()!, shape, off[0], off[1]);
        }
    }

    public int[] Shape(string name) => _entries[name].Shape;

    public float[] F32(string name)
    {
        var e = _entries[name];
        Assert.Equal("F32", e.Dtype);
        var bytes = _file.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin));
        var result = new float[bytes.Length / 4];
        for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
        return result;
    }

    public byte[] U8(string name)
    {
        var e = _entries[name];
        Assert.Equal("U8", e.Dtype);
        return _file.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin)).ToArray();
    }
}
