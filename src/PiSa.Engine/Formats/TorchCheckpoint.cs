using System.IO.Compression;
using PiSa.Engine.Formats.Pickle;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Formats;

/// <summary>
/// Reads a <c>torch.save</c> file in the zip format (torch >= 1.6): <c>&lt;top&gt;/data.pkl</c> unpickled by
/// the <see cref="RestrictedUnpickler"/>, tensors rebuilt from <c>&lt;top&gt;/data/&lt;key&gt;</c> storages as float
/// HostTensors (strided views copied out). Storages are read one entry at a time, never the whole file.
/// The legacy (pre-1.6, non-zip) format is refused.
/// </summary>
public sealed class TorchCheckpoint
{
    /// <summary>Cap on data.pkl itself: state dict pickles are kilobytes to a few megabytes.</summary>
    public const long MaxPickleBytes = 512L << 20;

    public string Path { get; }
    /// <summary>The unpickled object: PickleDict / List / PickleTuple / long / double / string / bool / null / HostTensor.</summary>
    public object? Root { get; }
    /// <summary>The stored element type of every tensor in <see cref="Root"/> (keyed by object identity).</summary>
    public IReadOnlyDictionary<HostTensor, TorchElementType> TensorTypes { get; }

    private TorchCheckpoint(string path, object? root, Dictionary<HostTensor, TorchElementType> types)
    {
        Path = path;
        Root = root;
        TensorTypes = types;
    }

    /// <summary>True when the file starts like a zip archive (what torch.save writes).</summary>
    public static bool LooksLikeZip(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var fs = File.OpenRead(path);
        return fs.Read(magic) == 4 && magic[0] == (byte)'P' && magic[1] == (byte)'K' && magic[2] == 3 && magic[3] == 4;
    }

    private static bool StartsLikePickle(string path)
    {
        using var fs = File.OpenRead(path);
        return fs.ReadByte() == 0x80; // PROTO: the legacy format is a sequence of pickles
    }

    public static TorchCheckpoint Load(string path)
    {
        if (!File.Exists(path)) throw new PisaException($"torch checkpoint '{path}': file not found");
        try
        {
            if (!LooksLikeZip(path))
                throw new PisaException(StartsLikePickle(path)
                    ? $"torch checkpoint '{path}': legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a recent torch"
                    : $"torch checkpoint '{path}': not a zip archive");
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            using var zip = new ZipArchive(fs, ZipArchiveMode.Read);
            return Read(path, zip);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            throw new PisaException($"torch checkpoint '{path}': damaged zip archive ({SafetensorsHeader.FirstLine(e.Message)})", e);
        }
    }

    private static TorchCheckpoint Read(string path, ZipArchive zip)
    {
        // One top folder holding data.pkl; its name varies with the writer (file stem, "archive").
        var pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)
                                             && e.FullName.IndexOf('/') == e.FullName.Length - "/data.pkl".Length).ToList();
        if (pickles.Count != 1)
            throw new PisaException($"torch checkpoint '{path}': expected one '<folder>/data.pkl' in the archive, found {pickles.Count}");
        string prefix = pickles[0].FullName[..^"data.pkl".Length];

        var byteorder = zip.GetEntry(prefix + "byteorder");
        if (byteorder != null)
        {
            string order = System.Text.Encoding.ASCII.GetString(ReadEntry(byteorder, 16, path)).Trim();
            if (order != "little") throw new PisaException($"torch checkpoint '{path}': byteorder '{order}' is not supported");
        }

        byte[] pickle = ReadEntry(pickles[0], MaxPickleBytes, path);
        var storages = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var types = new Dictionary<HostTensor, TorchElementType>(ReferenceEqualityComparer.Instance);

        HostTensor Build(TorchTensorSpec spec)
        {
            var s = spec.Storage;
            if (!storages.TryGetValue(s.Key, out var bytes))
            {
                var entry = zip.GetEntry(prefix + "data/" + s.Key)
                    ?? throw new PisaException($"torch checkpoint '{path}': storage '{s.Key}' has no entry '{prefix}data/{s.Key}'");
                long need = checked(s.ElementCount * TorchElementTypes.SizeOf(s.ElementType));
                if (entry.Length < need)
                    throw new PisaException($"torch checkpoint '{path}': storage '{s.Key}' is {entry.Length} bytes but declares {s.ElementCount} {TorchElementTypes.Name(s.ElementType)} elements ({need} bytes)");
                if (need > int.MaxValue)
                    throw new PisaException($"torch checkpoint '{path}': storage '{s.Key}' ({need} bytes) is over the 2 GiB limit");
                bytes = ReadEntry(entry, need, path, exact: need);
                storages[s.Key] = bytes;
            }
            var t = TorchTensorCopy.ToHostTensor(bytes, spec);
            types[t] = s.ElementType;
            return t;
        }

        object? root = RestrictedUnpickler.Load(pickle, path, Build);
        return new TorchCheckpoint(path, root, types);
    }

    /// <summary>Reads an entry fully, refusing one whose (declared or actual) size exceeds <paramref name="max"/>.</summary>
    private static byte[] ReadEntry(ZipArchiveEntry entry, long max, string path, long exact = -1)
    {
        long length = exact >= 0 ? exact : entry.Length;
        if (entry.Length > max && exact < 0)
            throw new PisaException($"torch checkpoint '{path}': entry '{entry.FullName}' is {entry.Length} bytes (limit {max})");
        var buffer = new byte[length];
        using var s = entry.Open();
        try
        {
            s.ReadExactly(buffer);
        }
        catch (EndOfStreamException)
        {
            throw new PisaException($"torch checkpoint '{path}': entry '{entry.FullName}' is truncated");
        }
        return buffer;
    }
}
