using PiSa.Engine;
using PiSa.Engine.Formats;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Formats;

public class SafetensorsWriterTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private static HostTensor Random(Random rng, params int[] shape)
    {
        var t = new HostTensor(shape);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() * 4 - 2);
        return t;
    }

    [Fact]
    public void RoundTripsF32AndMetadata()
    {
        var rng = new Random(1);
        var tensors = new Dictionary<string, HostTensor>
        {
            ["z.weight"] = Random(rng, 3, 5, 3, 3),
            ["a.bias"] = Random(rng, 7),
            ["m.scalar"] = Random(rng),
            ["e.empty"] = new HostTensor(0, 4),
        };
        var md = new Dictionary<string, string> { ["format"] = "pt", ["list"] = "[\"a\", \"b\"]", ["unicode"] = "é ✓" };
        string path = _dir.File("rt.safetensors");
        SafetensorsWriter.Write(path, tensors, md);

        using var st = SafetensorsFile.Open(path);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), st.Entries.Select(e => e.Name));
        foreach (var (name, t) in tensors)
        {
            var back = st.ReadFloat(name);
            Assert.Equal(t.Shape, back.Shape);
            Assert.Equal(t.Data, back.Data);
        }
        Assert.Equal(md, st.Metadata);
        // The data section starts 8-aligned, as the reference writer pads it.
        Assert.Equal(0, (new FileInfo(path).Length - st.Entries.Sum(e => e.ByteLength)) % 8);
        Assert.Single(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void WritesF16()
    {
        var t = Random(new Random(2), 4, 6);
        string path = _dir.File("h.safetensors");
        SafetensorsWriter.Write(path, [new("t", t)], null, SafetensorsDType.F16);
        using var st = SafetensorsFile.Open(path);
        Assert.Equal(SafetensorsDType.F16, st.GetEntry("t").DType);
        Assert.Equal(t.Data.Select(v => (float)(Half)v), st.ReadFloat("t").Data);
        Assert.Empty(st.Metadata);
    }

    [Fact]
    public void FailedWriteLeavesNoFileAndNoTemp()
    {
        // The target is a folder: the final rename fails after the temp file was fully written.
        string target = _dir.File("blocked.safetensors");
        Directory.CreateDirectory(target);
        Assert.Throws<PisaException>(() => SafetensorsWriter.Write(target, [new("t", new HostTensor(2))]));
        Assert.Empty(Directory.GetFiles(_dir.Path));

        // An existing file is replaced whole.
        string path = _dir.File("x.safetensors");
        File.WriteAllText(path, "old");
        SafetensorsWriter.Write(path, [new("t", new HostTensor(new[] { 2 }, [1f, 2f]))]);
        using var st = SafetensorsFile.Open(path);
        Assert.Equal([1f, 2f], st.ReadFloat("t").Data);
    }
}
