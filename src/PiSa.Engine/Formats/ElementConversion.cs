using System.Buffers.Binary;

namespace PiSa.Engine.Formats;

/// <summary>Little-endian element decoders shared by the safetensors and torch readers.</summary>
internal static class ElementConversion
{
    /// <summary>bfloat16 is the top half of a float32: shift the 16 bits into place.</summary>
    public static void BFloat16ToSingle(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int i = 0; i < dst.Length; i++)
            dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(2 * i, 2)) << 16);
    }

    public static void DoubleToSingle(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int i = 0; i < dst.Length; i++)
            dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src.Slice(8 * i, 8));
    }

    /// <summary>Reads element <paramref name="index"/> of a storage of <paramref name="elementSize"/>-byte elements as float.</summary>
    public static float ReadAsSingle(ReadOnlySpan<byte> storage, TorchElementType type, long index)
    {
        int k = (int)index;
        return type switch
        {
            TorchElementType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(storage.Slice(4 * k, 4)),
            TorchElementType.Float16 => (float)BinaryPrimitives.ReadHalfLittleEndian(storage.Slice(2 * k, 2)),
            TorchElementType.BFloat16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(storage.Slice(2 * k, 2)) << 16),
            TorchElementType.Float64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(storage.Slice(8 * k, 8)),
            TorchElementType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(storage.Slice(8 * k, 8)),
            TorchElementType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(storage.Slice(4 * k, 4)),
            TorchElementType.UInt8 => storage[k],
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }
}
