using System.Buffers.Binary;
using PiSa.Engine;
using PiSa.Engine.Formats;
using PiSa.Engine.Formats.Pickle;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Formats;

public class TorchCheckpointTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private static string FixturePkl => Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl");

    [Fact]
    public void FixtureCheckpointMatchesItsSafetensorsTwin()
    {
        var ckpt = TorchCheckpoint.Load(FixturePkl);
        var root = Assert.IsType<PickleDict>(ckpt.Root);
        Assert.IsType<long>(root["lora_rank_unet_pix"]);
        var modules = Assert.IsType<List<object?>>(root["unet_lora_encoder_modules_pix"]);
        Assert.All(modules, m => Assert.IsType<string>(m));
        var sd = Assert.IsType<PickleDict>(root["state_dict_unet"]);

        using var st = SafetensorsFile.Open(Path.Combine(FixturePaths.Tiny, "pisa_sr.safetensors"));
        Assert.Equal(st.Entries.Count, sd.Count);
        foreach (var (key, value) in sd)
        {
            var t = Assert.IsType<HostTensor>(value);
            var expected = st.ReadFloat((string)key);
            Assert.Equal(expected.Shape, t.Shape);
            Assert.Equal(expected.Data, t.Data);
            Assert.Equal(TorchElementType.Float32, ckpt.TensorTypes[t]);
        }
    }

    [Fact]
    public void RebuildsStridedOffsetHalfViews()
    {
        // A transposed 3x2 view at offset 1 of a 7-element HalfStorage, wrapped in _rebuild_parameter,
        // inside an OrderedDict with a cuda location (accepted and ignored).
        float[] storage = [9, 1, 2, 3, 4, 5, 6];
        var bytes = new byte[storage.Length * 2];
        for (int i = 0; i < storage.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)storage[i]);
        var p = new PickleBuilder().Proto(2)
            .Global("collections", "OrderedDict").EmptyTuple().Reduce()
            .Str("w")
            .Global("torch._utils", "_rebuild_parameter").Mark()
                .Tensor("HalfStorage", "0", 7, 1, [3, 2], [1, 3], "cuda:0")
                .Op(0x88).Global("collections", "OrderedDict").EmptyTuple().Reduce()
            .Tuple().Reduce()
            .SetItem()
            .Str("n").Int(-5).SetItem()
            .Str("f").Op('G').Raw(BitConverter.GetBytes(2.5).Reverse().ToArray()).SetItem()
            .Stop().ToArray();
        string path = _dir.File("strided.pt");
        PickleBuilder.WriteTorchZip(path, p, new Dictionary<string, byte[]> { ["0"] = bytes });

        var root = Assert.IsType<PickleDict>(TorchCheckpoint.Load(path).Root);
        var w = Assert.IsType<HostTensor>(root["w"]);
        Assert.Equal([3, 2], w.Shape);
        // element [i, j] = storage[1 + i*1 + j*3]
        Assert.Equal([1f, 4f, 2f, 5f, 3f, 6f], w.Data);
        Assert.Equal(-5L, root["n"]);
        Assert.Equal(2.5, root["f"]);
    }

    [Fact]
    public void RefusesLegacyNonZipFormat()
    {
        string path = _dir.File("legacy.pt");
        File.WriteAllBytes(path, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
        Assert.Contains("legacy", Assert.Throws<PisaException>(() => TorchCheckpoint.Load(path)).Message);
    }

    // ---- hostile files: each refused with a one-line PisaException, nothing executed --------------

    private string Sentinel => _dir.File("pwned");

    private PisaException Refused(byte[] pickle, Dictionary<string, byte[]>? storages = null)
    {
        string path = _dir.File("hostile-" + Guid.NewGuid().ToString("N")[..6] + ".pt");
        PickleBuilder.WriteTorchZip(path, pickle, storages);
        var e = Assert.Throws<PisaException>(() => TorchCheckpoint.Load(path));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(path, e.Message);
        Assert.False(File.Exists(Sentinel));
        return e;
    }

    private PickleBuilder CallWithCommand(PickleBuilder b) => b.Mark().Str("touch " + Sentinel).Tuple().Reduce().Stop();

    [Fact]
    public void RefusesOsSystem() =>
        Assert.Contains("'os.system' is not allowed", Refused(CallWithCommand(new PickleBuilder().Proto().Global("os", "system")).ToArray()).Message);

    [Fact]
    public void RefusesBuiltinsEval() =>
        Assert.Contains("'builtins.eval'", Refused(CallWithCommand(new PickleBuilder().Proto().Global("builtins", "eval")).ToArray()).Message);

    [Fact]
    public void RefusesPosixSystemThroughStackGlobal() =>
        Assert.Contains("'posix.system'", Refused(CallWithCommand(new PickleBuilder().Proto(4).StackGlobal("posix", "system")).ToArray()).Message);

    [Fact]
    public void RefusesSubprocessPopen() =>
        Assert.Contains("'subprocess.Popen'", Refused(CallWithCommand(new PickleBuilder().Proto().Global("subprocess", "Popen")).ToArray()).Message);

    [Fact]
    public void RefusesInstOpcode()
    {
        // INST carries its own module/name inline: os system, then the argument tuple from the mark.
        var p = new PickleBuilder().Proto().Mark().Str("touch " + Sentinel).Op('i').Raw("os\nsystem\n"u8.ToArray()).Stop();
        Assert.Contains("INST", Refused(p.ToArray()).Message);
    }

    [Theory]
    [InlineData('o', "OBJ")]
    [InlineData('b', "BUILD")]
    [InlineData((char)0x81, "NEWOBJ")]
    public void RefusesObjectBuildingOpcodes(char op, string name)
    {
        var p = new PickleBuilder().Proto().Global("collections", "OrderedDict").EmptyTuple().Op((byte)op).Stop();
        Assert.Contains(name, Refused(p.ToArray()).Message);
    }

    [Fact]
    public void RefusesReduceOnStorageType()
    {
        var p = new PickleBuilder().Proto().Global("torch", "FloatStorage").IntTuple(10).Reduce().Stop();
        Assert.Contains("REDUCE on torch.FloatStorage", Refused(p.ToArray()).Message);
    }

    [Fact]
    public void RefusesReduceOnAString()
    {
        var p = new PickleBuilder().Proto().Str("os.system").Mark().Str("x").Tuple().Reduce().Stop();
        Assert.Contains("REDUCE on a str", Refused(p.ToArray()).Message);
    }

    [Fact]
    public void RefusesNonStorageToRebuildTensor()
    {
        var p = new PickleBuilder().Proto().Global("torch._utils", "_rebuild_tensor_v2")
            .Mark().Str("not a storage").Int(0).IntTuple(2).IntTuple(1).False().Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple()
            .Reduce().Stop();
        Assert.Contains("fed a str instead of a storage", Refused(p.ToArray()).Message);
    }

    private static Dictionary<string, byte[]> FourFloats => new() { ["0"] = PickleBuilder.FloatBytes(1, 2, 3, 4) };

    [Fact]
    public void RefusesStorageOffsetPastEnd()
    {
        var p = new PickleBuilder().Proto().Tensor("FloatStorage", "0", 4, 4, [1], [1]).Stop();
        Assert.Contains("reaches element 4 of storage '0' holding 4", Refused(p.ToArray(), FourFloats).Message);
    }

    [Fact]
    public void RefusesStridePastEnd()
    {
        var p = new PickleBuilder().Proto().Tensor("FloatStorage", "0", 4, 0, [2, 2], [3, 1]).Stop();
        Assert.Contains("reaches element 4", Refused(p.ToArray(), FourFloats).Message);
    }

    [Fact]
    public void RefusesHugeNumel()
    {
        var p = new PickleBuilder().Proto().Tensor("FloatStorage", "0", 4, 0, [100000, 100000, 100000], [0, 0, 0]).Stop();
        Assert.Contains("more than 2^31-1 elements", Refused(p.ToArray(), FourFloats).Message);
    }

    [Fact]
    public void RefusesStorageShorterThanDeclared()
    {
        // The pickle claims 1000 elements; the entry holds 4.
        var p = new PickleBuilder().Proto().Tensor("FloatStorage", "0", 1000, 0, [10, 10], [10, 1]).Stop();
        Assert.Contains("declares 1000", Refused(p.ToArray(), FourFloats).Message);
    }

    [Fact]
    public void RefusesMissingStorageEntry()
    {
        var p = new PickleBuilder().Proto().Tensor("FloatStorage", "7", 4, 0, [4], [1]).Stop();
        Assert.Contains("storage '7'", Refused(p.ToArray(), FourFloats).Message);
    }

    [Fact]
    public void RefusesDeepMarkNesting()
    {
        var p = new PickleBuilder().Proto();
        for (int i = 0; i < 100_000; i++) p.Mark();
        Assert.Contains("nested deeper", Refused(p.Stop().ToArray()).Message);
    }

    [Fact]
    public void RefusesDeepContainerNesting()
    {
        // ((((...)))) one million levels deep through TUPLE1: flat to build, a recursion bomb for a naive reader.
        var p = new PickleBuilder().Proto().EmptyTuple();
        for (int i = 0; i < 1_000_000; i++) p.Op(0x85);
        Assert.Contains("nested deeper", Refused(p.Stop().ToArray()).Message);
    }

    [Fact]
    public void RefusesCycles()
    {
        // l = []; l.append(l)
        var p = new PickleBuilder().Proto().EmptyList().Op('q').Raw(0).Op('h').Raw(0).Op('a').Stop();
        Assert.Contains("cycle", Refused(p.ToArray()).Message);
    }

    [Fact]
    public void RefusesUnterminatedPickle()
    {
        var p = new PickleBuilder().Proto().EmptyDict().Str("k");
        Assert.Contains("without STOP", Refused(p.ToArray()).Message);
        var q = new PickleBuilder().Proto().Op('X').Raw(0xff, 0xff, 0xff, 0x7f).Raw((byte)'a');
        Assert.Contains("runs past the end", Refused(q.ToArray()).Message);
    }

    [Fact]
    public void RefusesTruncatedZip()
    {
        var p = new PickleBuilder().Proto().Tensor("FloatStorage", "0", 4, 0, [4], [1]).Stop().ToArray();
        string good = _dir.File("good.pt");
        PickleBuilder.WriteTorchZip(good, p, FourFloats);
        Assert.Equal([1f, 2f, 3f, 4f], Assert.IsType<HostTensor>(TorchCheckpoint.Load(good).Root).Data);

        byte[] all = File.ReadAllBytes(good);
        foreach (int keep in new[] { all.Length - 10, all.Length / 2, 10 })
        {
            string cut = _dir.File($"cut{keep}.pt");
            File.WriteAllBytes(cut, all[..keep]);
            var e = Assert.Throws<PisaException>(() => TorchCheckpoint.Load(cut));
            Assert.Contains(cut, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void UnpicklerRefusesNamedGlobalsWithoutAnyZip()
    {
        var p = new PickleBuilder().Proto().Global("torch", "load").EmptyTuple().Reduce().Stop().ToArray();
        var e = Assert.Throws<PisaException>(() => RestrictedUnpickler.Load(p, "mem", _ => throw new InvalidOperationException()));
        Assert.Contains("'torch.load'", e.Message);
    }
}
