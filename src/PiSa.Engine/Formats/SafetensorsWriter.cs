using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Formats;

/// <summary>
/// Writes float tensors as a safetensors file (F32, or F16 on request) with optional string metadata.
/// Tensors go in ordinal name order; the header is padded with spaces to a multiple of 8 so the data
/// section is aligned, as the reference writer does. The file appears at its path only when complete.
/// </summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, HostTensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        if (dtype is not (SafetensorsDType.F32 or SafetensorsDType.F16))
            throw new ArgumentException($"the writer stores F32 or F16, not {SafetensorsDTypes.Name(dtype)}", nameof(dtype));
        var list = tensors.OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        for (int i = 1; i < list.Count; i++)
            if (list[i].Key == list[i - 1].Key) throw new ArgumentException($"tensor '{list[i].Key}' given twice");
        if (list.Any(t => t.Key == "__metadata__")) throw new ArgumentException("'__metadata__' is not a tensor name");

        byte[] header = BuildHeader(list, metadata, dtype);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            stream.Write(len);
            stream.Write(header);
            foreach (var (_, t) in list) WriteData(stream, t, dtype);
        });
    }

    private static byte[] BuildHeader(List<KeyValuePair<string, HostTensor>> list, IReadOnlyDictionary<string, string>? metadata, SafetensorsDType dtype)
    {
        int size = SafetensorsDTypes.SizeOf(dtype);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in list)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", SafetensorsDTypes.Name(dtype));
                w.WriteStartArray("shape");
                foreach (int d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                long end = offset + t.Count * size;
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(end);
                w.WriteEndArray();
                w.WriteEndObject();
                offset = end;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }

    private static void WriteData(Stream stream, HostTensor t, SafetensorsDType dtype)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian host");
        if (dtype == SafetensorsDType.F32)
        {
            stream.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
            return;
        }
        // F16 in chunks so a large tensor does not need a second full-size buffer.
        var half = new Half[Math.Min(t.Data.Length, 1 << 16)];
        for (int i = 0; i < t.Data.Length; i += half.Length)
        {
            int n = Math.Min(half.Length, t.Data.Length - i);
            TensorPrimitives.ConvertToHalf(t.Data.AsSpan(i, n), half.AsSpan(0, n));
            stream.Write(MemoryMarshal.AsBytes(half.AsSpan(0, n)));
        }
    }
}
