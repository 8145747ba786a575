using System.Buffers.Binary;
using System.Text;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// Packs kernel arguments exactly as the kernel's parameter block lays them out (each value at its
/// natural alignment), recording each argument's kind so tests can compare the sequence with the
/// kernel's C signature. The runtime passes either <see cref="Blob"/> through cuLaunchKernel's
/// CU_LAUNCH_PARAM_BUFFER_POINTER, or pointers to Blob + <see cref="Offsets"/>[i] as kernelParams.
/// </summary>
public sealed class KernelArgs
{
    private readonly byte[] _blob = new byte[512];
    private readonly List<int> _offsets = new();
    private readonly StringBuilder _kinds = new();
    private int _size;

    /// <summary>A device pointer (8 bytes); <see cref="IntPtr.Zero"/> means "absent" to kernels that allow it.</summary>
    public KernelArgs Ptr(IntPtr p) { Put(8, 'P').WriteInt64(p.ToInt64()); return this; }
    public KernelArgs Int(int v) { Put(4, 'I').WriteInt32(v); return this; }
    public KernelArgs Float(float v) { Put(4, 'F').WriteSingle(v); return this; }

    /// <summary>One letter per argument: P pointer, I int, F float.</summary>
    public string Kinds => _kinds.ToString();
    public int Count => _offsets.Count;
    public IReadOnlyList<int> Offsets => _offsets;
    public ReadOnlySpan<byte> Blob => _blob.AsSpan(0, _size);

    /// <summary>The pointer value of argument <paramref name="index"/> (which must be a P).</summary>
    public IntPtr PointerAt(int index) => (IntPtr)BinaryPrimitives.ReadInt64LittleEndian(_blob.AsSpan(_offsets[index], 8));
    public int IntAt(int index) => BinaryPrimitives.ReadInt32LittleEndian(_blob.AsSpan(_offsets[index], 4));

    private Writer Put(int bytes, char kind)
    {
        int off = (_size + bytes - 1) / bytes * bytes;
        if (off + bytes > _blob.Length) throw new InvalidOperationException("kernel argument block over 512 bytes");
        _offsets.Add(off);
        _kinds.Append(kind);
        _size = off + bytes;
        return new Writer(_blob, off);
    }

    private readonly struct Writer(byte[] blob, int off)
    {
        public void WriteInt64(long v) => BinaryPrimitives.WriteInt64LittleEndian(blob.AsSpan(off, 8), v);
        public void WriteInt32(int v) => BinaryPrimitives.WriteInt32LittleEndian(blob.AsSpan(off, 4), v);
        public void WriteSingle(float v) => BinaryPrimitives.WriteSingleLittleEndian(blob.AsSpan(off, 4), v);
    }
}
