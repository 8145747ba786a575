using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using PiSa.Engine;
using PiSa.Engine.Formats;

namespace PiSa.Tests.Formats;

public class SafetensorsReaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private static string UnetPath => Path.Combine(FixturePaths.Tiny, "sd", "unet", "diffusion_pytorch_model.safetensors");

    /// <summary>Independent decoding of the fixture: parse the header with JsonDocument and read the bytes with BinaryPrimitives.</summary>
    [Fact]
    public void ReadsFixtureTensorsLikeAnIndependentParser()
    {
        byte[] raw = File.ReadAllBytes(UnetPath);
        long n = BinaryPrimitives.ReadInt64LittleEndian(raw);
        using var doc = JsonDocument.Parse(raw.AsMemory(8, (int)n));
        using var st = SafetensorsFile.Open(UnetPath);
        int count = 0;
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__") continue;
            count++;
            var shape = prop.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            long begin = prop.Value.GetProperty("data_offsets")[0].GetInt64();
            var t = st.ReadFloat(prop.Name);
            Assert.Equal(shape, t.Shape);
            var expected = new float[t.Data.Length];
            for (int i = 0; i < expected.Length; i++)
                expected[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan((int)(8 + n + begin + 4 * i)));
            Assert.Equal(expected, t.Data);
        }
        Assert.Equal(count, st.Entries.Count);
        Assert.Equal("pt", st.Metadata["format"]);
        Assert.Contains(st.Entries, e => e.Name == "conv_in.weight" && e.DType == SafetensorsDType.F32);
    }

    [Fact]
    public void ReadsTokenIdsAsIntegers()
    {
        using var st = SafetensorsFile.Open(Path.Combine(FixturePaths.Tiny, "text.safetensors"));
        var ids = st.ReadInt64("ids_prompt");
        Assert.Equal(77, ids.Length);
        Assert.Equal(49406, ids[0]); // CLIP's <|startoftext|>
        Assert.Equal(ids.Select(v => (int)v).ToArray(), st.ReadInt32("ids_prompt"));
        Assert.Throws<PisaException>(() => st.ReadFloat("ids_prompt"));
        Assert.Throws<PisaException>(() => st.ReadInt64("embeds_prompt"));
    }

    [Fact]
    public void ConvertsHalfAndBFloat16()
    {
        float[] values = [1.5f, -2.25f, 0.0009765625f, 65504f, -0f, 3.140625f];
        var half = new byte[values.Length * 2];
        var bf16 = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(half.AsSpan(2 * i), (Half)values[i]);
            BinaryPrimitives.WriteUInt16LittleEndian(bf16.AsSpan(2 * i), (ushort)(BitConverter.SingleToInt32Bits(values[i]) >> 16));
        }
        string header = """{"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[6],"data_offsets":[12,24]}}""";
        string path = WriteRaw("hb.safetensors", header, [.. half, .. bf16]);
        using var st = SafetensorsFile.Open(path);
        var h = st.ReadFloat("h");
        Assert.Equal([2, 3], h.Shape);
        Assert.Equal(values.Select(v => (float)(Half)v), h.Data);
        var b = st.ReadFloat("b");
        Assert.Equal(values.Select(v => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(v) & unchecked((int)0xFFFF0000))), b.Data);
    }

    [Fact]
    public void WeightSourceReturnsTheSameObjectEveryCall()
    {
        using var ws = SafetensorsWeightSource.Open(UnetPath);
        Assert.Same(ws.Get("conv_in.weight"), ws.Get("conv_in.weight"));
        Assert.True(ws.Contains("conv_in.bias"));
        var e = Assert.Throws<PisaException>(() => ws.Get("no.such.weight"));
        Assert.Contains("no.such.weight", e.Message);
    }

    [Fact]
    public void WeightSourceOverSeveralFilesRefusesDuplicates()
    {
        string a = WriteRaw("a.safetensors", """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]);
        string b = WriteRaw("b.safetensors", """{"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", PickleBuilder.FloatBytes(7));
        using (var both = SafetensorsWeightSource.Open(a, b))
        {
            Assert.Equal(7, both.Get("y").Data[0]);
            Assert.Equal(["x", "y"], both.Names.ToArray());
        }
        var e = Assert.Throws<PisaException>(() => SafetensorsWeightSource.Open(a, a));
        Assert.Contains("'x'", e.Message);
    }

    // ---- hostile or broken headers -----------------------------------------------------------------

    public static TheoryData<string, string, int, string, string> BadHeaders => new()
    {
        // name, header, data bytes, expected fragment of the message, tensor the message must name ("" = none)
        { "bad-json", """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]""", 4, "not valid JSON", "" },
        { "not-object", """[1,2]""", 0, "expected an object", "" },
        { "unknown-dtype", """{"w":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}""", 4, "unknown dtype 'F31'", "'w'" },
        { "shape-overflow", """{"w":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,4]}}""", 4, "overflows", "'w'" },
        { "negative-dim", """{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, "shape entry 0", "'w'" },
        { "out-of-range", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, "run past the data section", "'w'" },
        { "unordered", """{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}""", 8, "not ordered", "'w'" },
        { "size-mismatch", """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 16, "needs 12", "'w'" },
        { "overlap", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "overlaps tensor", "'v'" },
        { "duplicate", """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "appears twice", "'w'" },
        { "missing-offsets", """{"w":{"dtype":"F32","shape":[1]}}""", 4, "data_offsets", "'w'" },
        { "float-offset", """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0.5,4]}}""", 4, "not a non-negative integer", "'w'" },
        { "metadata-non-string", """{"__metadata__":{"k":3},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4, "'k'", "" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void RefusesBadHeaders(string name, string header, int dataBytes, string fragment, string tensor)
    {
        string path = WriteRaw(name + ".safetensors", header, new byte[dataBytes]);
        var e = Assert.Throws<PisaException>(() => SafetensorsFile.Open(path));
        Assert.Contains(fragment, e.Message);
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(tensor, e.Message);
    }

    [Fact]
    public void RefusesHeaderLengthPastEndOfFile()
    {
        string path = _dir.File("long.safetensors");
        var bytes = new byte[8 + 10];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<PisaException>(() => SafetensorsFile.Open(path));
        Assert.Contains("runs past the end", e.Message);

        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("limit", Assert.Throws<PisaException>(() => SafetensorsFile.Open(path)).Message);

        File.WriteAllBytes(path, new byte[5]);
        Assert.Contains("too short", Assert.Throws<PisaException>(() => SafetensorsFile.Open(path)).Message);
    }

    private string WriteRaw(string name, string header, byte[] data)
    {
        string path = _dir.File(name);
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
