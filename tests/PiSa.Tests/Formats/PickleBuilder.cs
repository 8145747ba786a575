using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace PiSa.Tests.Formats;

/// <summary>Writes pickle opcodes by hand, so tests can build exactly the (hostile) bytes they want.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream _s = new();

    public PickleBuilder Op(byte op) { _s.WriteByte(op); return this; }
    public PickleBuilder Op(char op) => Op((byte)op);
    public PickleBuilder Raw(params byte[] bytes) { _s.Write(bytes); return this; }

    public PickleBuilder Proto(int p = 2) => Op(0x80).Raw((byte)p);
    public PickleBuilder Global(string module, string name) => Op('c').Raw(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
    public PickleBuilder StackGlobal(string module, string name) => Str(module).Str(name).Op(0x93);
    public PickleBuilder Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op('X');
        var len = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, b.Length);
        return Raw(len).Raw(b);
    }
    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Op('K').Raw((byte)v);
        if (v is >= 0 and < 65536) return Op('M').Raw((byte)v, (byte)(v >> 8));
        if (v is >= int.MinValue and <= int.MaxValue)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            return Op('J').Raw(b);
        }
        var l = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(l, v);
        return Op(0x8a).Raw(8).Raw(l);
    }
    public PickleBuilder Mark() => Op('(');
    public PickleBuilder Tuple() => Op('t');
    public PickleBuilder IntTuple(params long[] values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Tuple();
    }
    public PickleBuilder EmptyDict() => Op('}');
    public PickleBuilder EmptyList() => Op(']');
    public PickleBuilder EmptyTuple() => Op(')');
    public PickleBuilder SetItem() => Op('s');
    public PickleBuilder Reduce() => Op('R');
    public PickleBuilder False() => Op(0x89);
    public PickleBuilder Stop() => Op('.');

    /// <summary>('storage', torch.&lt;type&gt;, key, location, numel) BINPERSID.</summary>
    public PickleBuilder Storage(string type, string key, long numel, string location = "cpu") =>
        Mark().Str("storage").Global("torch", type).Str(key).Str(location).Int(numel).Tuple().Op('Q');

    /// <summary>_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) .</summary>
    public PickleBuilder Tensor(string type, string key, long numel, long offset, long[] size, long[] stride, string location = "cpu") =>
        Global("torch._utils", "_rebuild_tensor_v2").Mark().Storage(type, key, numel, location).Int(offset).IntTuple(size).IntTuple(stride)
            .False().Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce();

    public byte[] ToArray() => _s.ToArray();

    /// <summary>Writes a torch.save-style zip: top/data.pkl, top/data/KEY, top/version.</summary>
    public static void WriteTorchZip(string path, byte[] pickle, IReadOnlyDictionary<string, byte[]>? storages = null, string top = "archive")
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Add(string name, byte[] data)
        {
            var e = zip.CreateEntry(top + "/" + name, CompressionLevel.NoCompression);
            using var s = e.Open();
            s.Write(data);
        }
        Add("data.pkl", pickle);
        if (storages != null) foreach (var (k, v) in storages) Add("data/" + k, v);
        Add("version", "3\n"u8.ToArray());
    }

    public static byte[] FloatBytes(params float[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), values[i]);
        return b;
    }
}
