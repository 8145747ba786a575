using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using PiSa.Tests.Formats;

namespace PiSa.Tests.Hostile;

/// <summary>
/// Minimal hostile inputs, byte by byte: each reproduces one contract break the outside fuzzing campaign of
/// issue 12 found (and serves as a seed for the fuzz test). Built here rather than committed as binaries so
/// each one says what it is.
/// </summary>
internal static class HostileFiles
{
    /// <summary>A safetensors file: 8-byte length, the header bytes exactly as given, then zeroed data.</summary>
    public static byte[] Safetensors(byte[] header, int dataBytes)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    public static byte[] Safetensors(string header, int dataBytes) => Safetensors(Encoding.UTF8.GetBytes(header), dataBytes);

    /// <summary>One F32 tensor of 4 elements named <paramref name="nameBytes"/> (raw, possibly invalid UTF-8).</summary>
    public static byte[] SafetensorsWithRawName(byte[] nameBytes)
    {
        var header = new MemoryStream();
        header.Write("{\""u8);
        header.Write(nameBytes);
        header.Write("\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"u8);
        return Safetensors(header.ToArray(), 16);
    }

    /// <summary>A valid one-tensor file whose __metadata__ value holds raw bytes (possibly invalid UTF-8).</summary>
    public static byte[] SafetensorsWithRawMetadata(byte[] valueBytes)
    {
        var header = new MemoryStream();
        header.Write("{\"__metadata__\":{\"k\":\""u8);
        header.Write(valueBytes);
        header.Write("\"},\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"u8);
        return Safetensors(header.ToArray(), 16);
    }

    /// <summary>A valid small safetensors file (a seed for mutation).</summary>
    public static byte[] ValidSafetensors() =>
        Safetensors("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]}}", 22);

    /// <summary>
    /// A pickle of <paramref name="levels"/> nested lists, each holding its child twice through the memo: under
    /// 1 KB, 2^levels leaves when expanded as a tree ("billion laughs").
    /// </summary>
    public static byte[] BillionLaughsPickle(int levels)
    {
        var p = new PickleBuilder().Proto(2).EmptyList().Op('q').Raw(0); // leaf, memo 0
        for (int i = 1; i <= levels; i++)
            p.EmptyList().Mark().Op('h').Raw((byte)(i - 1)).Op('h').Raw((byte)(i - 1)).Op('e').Op('q').Raw((byte)i);
        return p.Stop().ToArray();
    }

    /// <summary>A pickle holding one tensor on storage '0' that declares <paramref name="numel"/> float elements.</summary>
    public static byte[] OneTensorPickle(long numel, string type = "FloatStorage") =>
        new PickleBuilder().Proto(2).EmptyDict().Str("w")
            .Tensor(type, "0", numel, 0, [1], [1]).SetItem().Stop().ToArray();

    /// <summary>A torch.save-style zip written by the framework (honest sizes).</summary>
    public static byte[] TorchZip(byte[] pickle, IReadOnlyDictionary<string, byte[]>? storages = null)
    {
        string tmp = Path.GetTempFileName();
        try
        {
            PickleBuilder.WriteTorchZip(tmp, pickle, storages);
            return File.ReadAllBytes(tmp);
        }
        finally { File.Delete(tmp); }
    }

    public sealed record RawZipEntry(string Name, byte[] Data, ulong? DeclaredCompressed = null, ulong? DeclaredUncompressed = null, bool Zip64 = false);

    /// <summary>
    /// A stored (method 0) zip written by hand so the sizes in the headers can lie: an entry may declare sizes
    /// other than its data's, or carry them in a zip64 extra field (sizes 0xFFFFFFFF in the fixed fields).
    /// </summary>
    public static byte[] RawZip(params RawZipEntry[] entries)
    {
        var o = new MemoryStream();
        var w = new BinaryWriter(o);
        var offsets = new List<long>();
        foreach (var e in entries)
        {
            offsets.Add(o.Position);
            WriteHeader(w, e, central: false, localOffset: 0);
            w.Write(e.Data);
        }
        long cdStart = o.Position;
        for (int i = 0; i < entries.Length; i++) WriteHeader(w, entries[i], central: true, localOffset: offsets[i]);
        long cdSize = o.Position - cdStart;
        w.Write(0x06054b50u); // end of central directory
        w.Write((ushort)0); w.Write((ushort)0);
        w.Write((ushort)entries.Length); w.Write((ushort)entries.Length);
        w.Write((uint)cdSize); w.Write((uint)cdStart);
        w.Write((ushort)0);
        return o.ToArray();
    }

    private static void WriteHeader(BinaryWriter w, RawZipEntry e, bool central, long localOffset)
    {
        ulong comp = e.DeclaredCompressed ?? (ulong)e.Data.Length;
        ulong uncomp = e.DeclaredUncompressed ?? (ulong)e.Data.Length;
        var name = Encoding.ASCII.GetBytes(e.Name);
        byte[] extra = [];
        if (e.Zip64)
        {
            extra = new byte[4 + 16];
            BinaryPrimitives.WriteUInt16LittleEndian(extra, 0x0001);
            BinaryPrimitives.WriteUInt16LittleEndian(extra.AsSpan(2), 16);
            BinaryPrimitives.WriteUInt64LittleEndian(extra.AsSpan(4), uncomp);
            BinaryPrimitives.WriteUInt64LittleEndian(extra.AsSpan(12), comp);
        }
        uint crc = Crc32(e.Data);
        w.Write(central ? 0x02014b50u : 0x04034b50u);
        if (central) w.Write((ushort)45); // version made by
        w.Write((ushort)(e.Zip64 ? 45 : 20)); // version needed
        w.Write((ushort)0); // flags
        w.Write((ushort)0); // method: stored
        w.Write((ushort)0); w.Write((ushort)0x21); // time, date
        w.Write(crc);
        w.Write(e.Zip64 ? 0xFFFFFFFFu : (uint)comp);
        w.Write(e.Zip64 ? 0xFFFFFFFFu : (uint)uncomp);
        w.Write((ushort)name.Length);
        w.Write((ushort)extra.Length);
        if (central)
        {
            w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0); // comment, disk, internal attrs
            w.Write(0u); // external attrs
            w.Write((uint)localOffset);
        }
        w.Write(name);
        w.Write(extra);
    }

    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFF;
    }

    /// <summary>A copy of the tiny fixture model in <paramref name="to"/>, to edit without touching the fixture.</summary>
    public static string CopyTinyModel(string to)
    {
        string from = Path.Combine(FixturePaths.Tiny, "sd");
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
        return to;
    }

    /// <summary>Replaces one top-level field's value in a config.json (JSON text of the new value).</summary>
    public static void SetConfigField(string configPath, string field, string jsonValue)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        node.Remove(field);
        string text = node.ToJsonString();
        // Inserted as raw text so values System.Text.Json would not write (lone surrogate escapes) survive.
        text = text.TrimEnd('}') + (node.Count > 0 ? "," : "") + $"\"{field}\":{jsonValue}}}";
        File.WriteAllText(configPath, text);
    }
}
