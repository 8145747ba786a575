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
    /// <summary>DEFLATE's largest possible expansion (258-byte matches from 2-bit codes, about 1032:1), rounded up:
    /// an entry declaring more uncompressed bytes than this times its compressed size lies.</summary>
    public const long MaxDeflateRatio = 1100;
    /// <summary>Chunk in which compressed entries are read, so memory follows the bytes that really arrive.</summary>
    private const int ReadChunk = 16 << 20;

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
            using var zip = OpenZip(fs, path);
            CheckEntrySizes(zip, fs.Length, path);
            return Read(path, zip);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            throw Damaged(path, e);
        }
    }

    private static PisaException Damaged(string path, Exception e) =>
        new($"torch checkpoint '{path}': damaged zip archive ({SafetensorsHeader.FirstLine(e.Message)})", e);

    private static ZipArchive OpenZip(Stream fs, string path)
    {
        try { return new ZipArchive(fs, ZipArchiveMode.Read); }
        // The framework's reader raises ArgumentOutOfRangeException for zip64 sizes past 2^63 (and may for
        // other absurd fields): caught here, around the library call only, so our own bugs stay visible.
        catch (ArgumentException e) { throw Damaged(path, e); }
    }

    /// <summary>
    /// Every entry's declared sizes against the file, before any entry is read: compressed bytes must lie in
    /// the file, and the uncompressed size must be reachable from them (equal for stored entries, at most
    /// DEFLATE's maximum ratio otherwise). A storage "declared at 2 GB" by an entry that lies to match is
    /// refused here instead of being allocated.
    /// </summary>
    private static void CheckEntrySizes(ZipArchive zip, long fileLength, string path)
    {
        foreach (var e in zip.Entries)
        {
            long compressed = e.CompressedLength, length = e.Length;
            if (compressed < 0 || compressed > fileLength)
                throw new PisaException($"torch checkpoint '{path}': entry '{e.FullName}' declares {compressed} compressed bytes in a {fileLength}-byte file");
            if (length < 0 || length > compressed * MaxDeflateRatio + 64)
                throw new PisaException($"torch checkpoint '{path}': entry '{e.FullName}' declares {length} bytes from {compressed} compressed bytes (no compression reaches that ratio)");
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
                int size = TorchElementTypes.SizeOf(s.ElementType);
                if (s.ElementCount > Array.MaxLength / size)
                    throw new PisaException($"torch checkpoint '{path}': storage '{s.Key}' declares {s.ElementCount} {TorchElementTypes.Name(s.ElementType)} elements, over the 2 GiB per-storage limit");
                long need = s.ElementCount * size;
                if (entry.Length < need)
                    throw new PisaException($"torch checkpoint '{path}': storage '{s.Key}' is {entry.Length} bytes but declares {s.ElementCount} {TorchElementTypes.Name(s.ElementType)} elements ({need} bytes)");
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

    /// <summary>
    /// Reads an entry fully (or its first <paramref name="exact"/> bytes), refusing one whose declared size exceeds
    /// <paramref name="max"/>. A stored entry (what torch.save writes) is read into one buffer: its sizes were
    /// checked against the file. A compressed one grows its buffer as data really arrives, so an entry that
    /// lies about its size costs only what it holds.
    /// </summary>
    private static byte[] ReadEntry(ZipArchiveEntry entry, long max, string path, long exact = -1)
    {
        long length = exact >= 0 ? exact : entry.Length;
        if ((exact < 0 && entry.Length > max) || length > Array.MaxLength)
            throw new PisaException($"torch checkpoint '{path}': entry '{entry.FullName}' is {entry.Length} bytes (limit {Math.Min(max, Array.MaxLength)})");
        Stream s;
        try { s = entry.Open(); }
        catch (ArgumentException e) { throw Damaged(path, e); } // see OpenZip
        using (s)
        {
            try
            {
                return entry.CompressedLength == entry.Length ? ReadAll(s, (int)length) : ReadGrowing(s, (int)length);
            }
            catch (EndOfStreamException)
            {
                throw new PisaException($"torch checkpoint '{path}': entry '{entry.FullName}' is truncated");
            }
        }
    }

    private static byte[] ReadAll(Stream s, int length)
    {
        var buffer = new byte[length];
        s.ReadExactly(buffer);
        return buffer;
    }

    private static byte[] ReadGrowing(Stream s, int length)
    {
        var buffer = new byte[Math.Min(length, ReadChunk)];
        int filled = 0;
        while (filled < length)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(length, 2L * buffer.Length));
            int n = s.Read(buffer, filled, buffer.Length - filled);
            if (n == 0) throw new EndOfStreamException();
            filled += n;
        }
        return buffer;
    }
}
