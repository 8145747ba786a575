using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Formats;

/// <summary>
/// A safetensors file opened read-only through a memory map: the header is parsed and validated at open,
/// tensor bytes are touched only when a tensor is read (so a 3.4 GB UNet costs nothing until used, and
/// only one tensor at a time is converted into managed memory).
/// Thread-safe for concurrent reads; dispose to unmap (tensors already read stay valid).
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafetensorsEntry> _byName;
    private bool _disposed;

    public string Path { get; }
    /// <summary>Tensors in header order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }
    /// <summary>The header's <c>__metadata__</c> (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr,
        long dataStart, SafetensorsHeader.Parsed header)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePtr;
        _dataStart = dataStart;
        Entries = header.Entries;
        Metadata = header.Metadata;
        _byName = new Dictionary<string, SafetensorsEntry>(header.Entries.Count, StringComparer.Ordinal);
        foreach (var e in header.Entries) _byName[e.Name] = e;
    }

    public static SafetensorsFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PisaException($"safetensors '{path}': big-endian hosts are not supported");
        if (!File.Exists(path)) throw new PisaException($"safetensors '{path}': file not found");
        // The length is the opened file's: FileInfo.Length would be a symbolic link's own size (the Hugging
        // Face cache links every snapshot file to a blob), and the map is made from the same open file.
        FileStream stream;
        long length;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            length = stream.Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        { throw new PisaException($"safetensors '{path}': cannot open ({e.Message})", e); }
        if (length < 8)
        {
            stream.Dispose();
            throw new PisaException($"safetensors '{path}': file is {length} bytes, too short for a header");
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool pointerAcquired = false;
        try
        {
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            pointerAcquired = true;
            p += view.PointerOffset;

            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(p, 8));
            if (headerLen > SafetensorsHeader.MaxHeaderBytes)
                throw new PisaException($"safetensors '{path}': header length {headerLen} exceeds the {SafetensorsHeader.MaxHeaderBytes}-byte limit");
            if ((long)headerLen > length - 8)
                throw new PisaException($"safetensors '{path}': header length {headerLen} runs past the end of the file ({length} bytes)");
            long dataStart = 8 + (long)headerLen;
            var header = SafetensorsHeader.Parse(new ReadOnlySpan<byte>(p + 8, (int)headerLen), length - dataStart, path);
            return new SafetensorsFile(path, map, view, p, dataStart, header);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Release();
            throw new PisaException($"safetensors '{path}': cannot map ({e.Message})", e);
        }
        catch
        {
            Release();
            throw;
        }

        void Release()
        {
            if (pointerAcquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (map != null) map.Dispose(); else stream.Dispose();
        }
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public SafetensorsEntry GetEntry(string name) =>
        _byName.TryGetValue(name, out var e) ? e : throw new PisaException($"safetensors '{Path}': no tensor '{name}'");

    /// <summary>
    /// The tensor's raw little-endian bytes straight from the map (no copy). Valid only until Dispose:
    /// for uploads that want the stored dtype as is.
    /// </summary>
    public ReadOnlySpan<byte> GetBytes(string name) => GetBytes(GetEntry(name));

    public ReadOnlySpan<byte> GetBytes(SafetensorsEntry e)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Entries were validated against the data length at open, but a span is int-sized.
        if (e.ByteLength > int.MaxValue)
            throw new PisaException($"safetensors '{Path}': tensor '{e.Name}' is {e.ByteLength} bytes, over the 2 GiB per-tensor limit");
        return new ReadOnlySpan<byte>(_base + _dataStart + e.Begin, (int)e.ByteLength);
    }

    /// <summary>A float tensor (F32 copied, F16/BF16/F64 converted) in a new managed array.</summary>
    public HostTensor ReadFloat(string name)
    {
        var e = GetEntry(name);
        if (!SafetensorsDTypes.IsFloat(e.DType))
            throw new PisaException($"safetensors '{Path}': tensor '{name}' is {SafetensorsDTypes.Name(e.DType)}, not a float type");
        var bytes = GetBytes(e);
        var data = new float[e.ElementCount];
        switch (e.DType)
        {
            case SafetensorsDType.F32:
                bytes.CopyTo(MemoryMarshal.AsBytes(data.AsSpan()));
                break;
            case SafetensorsDType.F16:
                // Unaligned reads are fine on x64/arm64; the vectorised converter is what makes fp16 UNets load fast.
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), data);
                break;
            case SafetensorsDType.BF16:
                ElementConversion.BFloat16ToSingle(bytes, data);
                break;
            case SafetensorsDType.F64:
                ElementConversion.DoubleToSingle(bytes, data);
                break;
        }
        return new HostTensor(e.Shape, data);
    }

    /// <summary>An I64 tensor (token ids) as a flat long[]; the shape is in <see cref="GetEntry"/>.</summary>
    public long[] ReadInt64(string name)
    {
        var e = GetEntry(name);
        var bytes = GetBytes(e);
        switch (e.DType)
        {
            case SafetensorsDType.I64:
                var r = new long[e.ElementCount];
                bytes.CopyTo(MemoryMarshal.AsBytes(r.AsSpan()));
                return r;
            case SafetensorsDType.I32:
                var i32 = ReadInt32(name);
                return Array.ConvertAll(i32, v => (long)v);
            default:
                throw new PisaException($"safetensors '{Path}': tensor '{name}' is {SafetensorsDTypes.Name(e.DType)}, not I64/I32");
        }
    }

    /// <summary>An I32 tensor as a flat int[] (I64 accepted when every value fits).</summary>
    public int[] ReadInt32(string name)
    {
        var e = GetEntry(name);
        var bytes = GetBytes(e);
        switch (e.DType)
        {
            case SafetensorsDType.I32:
                var r = new int[e.ElementCount];
                bytes.CopyTo(MemoryMarshal.AsBytes(r.AsSpan()));
                return r;
            case SafetensorsDType.I64:
                var wide = ReadInt64(name);
                var narrow = new int[wide.Length];
                for (int i = 0; i < wide.Length; i++)
                {
                    if (wide[i] < int.MinValue || wide[i] > int.MaxValue)
                        throw new PisaException($"safetensors '{Path}': tensor '{name}' value {wide[i]} at {i} does not fit in int32");
                    narrow[i] = (int)wide[i];
                }
                return narrow;
            default:
                throw new PisaException($"safetensors '{Path}': tensor '{name}' is {SafetensorsDTypes.Name(e.DType)}, not I32/I64");
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
