using System.Runtime.InteropServices;
using PiSa.Engine.Formats.Pickle;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Formats;

/// <summary>Copies a (possibly strided) view of a little-endian torch storage into a dense float tensor.</summary>
internal static class TorchTensorCopy
{
    /// <remarks>The spec was bounds-checked by the unpickler against the declared element count, and the
    /// storage bytes against that count, so every index here is inside <paramref name="storage"/>.</remarks>
    public static HostTensor ToHostTensor(byte[] storage, TorchTensorSpec spec)
    {
        var type = spec.Storage.ElementType;
        long need = spec.Storage.ElementCount * TorchElementTypes.SizeOf(type);
        if (storage.LongLength < need) throw new InvalidOperationException("storage shorter than declared"); // guarded by the caller

        int rank = spec.Size.Length;
        var data = new float[ShapeUtil.Product(spec.Size)];
        if (data.Length == 0) return new HostTensor(spec.Size, data);

        if (IsContiguous(spec) && type == TorchElementType.Float32)
        {
            MemoryMarshal.Cast<byte, float>(storage.AsSpan((int)(spec.Offset * 4), data.Length * 4)).CopyTo(data);
            return new HostTensor(spec.Size, data);
        }

        // Odometer over the index space: innermost dimension fastest, as row-major order wants.
        var index = new int[rank];
        long src = spec.Offset;
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = ElementConversion.ReadAsSingle(storage, type, src);
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++index[d] < spec.Size[d]) { src += spec.Stride[d]; break; }
                src -= (long)(spec.Size[d] - 1) * spec.Stride[d];
                index[d] = 0;
            }
        }
        return new HostTensor(spec.Size, data);
    }

    private static bool IsContiguous(TorchTensorSpec spec)
    {
        long expected = 1;
        for (int d = spec.Size.Length - 1; d >= 0; d--)
        {
            if (spec.Size[d] != 1 && spec.Stride[d] != expected) return false;
            expected *= spec.Size[d];
        }
        return true;
    }
}
