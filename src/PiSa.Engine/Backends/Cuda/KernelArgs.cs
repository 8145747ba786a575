using System.Buffers.Binary;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// Packs kernel arguments exactly as the kernel's parameter block lays them out (each value at its
/// natural alignment), recording each argument's kind so tests can compare the sequence with the
/// kernel's C signature. The runtime passes either <see cref="Blob"/> through cuLaunchKernel's
/// CU_LAUNCH_PARAM_BUFFER_POINTER, or pointers to Blob + <see cref="OffsetAt"/>(i) as kernelParams.
///
/// Reusable without allocation: <see cref="CudaKernels"/> keeps one instance and <see cref="Reset"/>s it for every
/// launch (the launch path allocates nothing). A runtime that keeps arguments past the launch (a recording fake, a
/// captured launch list) must take a <see cref="Clone"/>.
/// </summary>
public sealed class KernelArgs
{
    public const int MaxBytes = 512;
    public const int MaxArgs = 64;
    private readonly byte[] _blob = new byte[MaxBytes];
    private readonly int[] _offsets = new int[MaxArgs];
    private readonly char[] _kinds = new char[MaxArgs];
    private int _size, _count;

    /// <summary>Empties the block for the next launch.</summary>
    public KernelArgs Reset() { _size = 0; _count = 0; return this; }

    /// <summary>A device pointer (8 bytes); <see cref="IntPtr.Zero"/> means "absent" to kernels that allow it.</summary>
    public KernelArgs Ptr(IntPtr p) { BinaryPrimitives.WriteInt64LittleEndian(Put(8, 'P'), p.ToInt64()); return this; }
    public KernelArgs Int(int v) { BinaryPrimitives.WriteInt32LittleEndian(Put(4, 'I'), v); return this; }
    public KernelArgs Float(float v) { BinaryPrimitives.WriteSingleLittleEndian(Put(4, 'F'), v); return this; }

    /// <summary>One letter per argument: P pointer, I int, F float (a new string: for tests and messages).</summary>
    public string Kinds => new(_kinds, 0, _count);
    public char KindAt(int index) => _kinds[Check(index)];
    public int Count => _count;
    public int OffsetAt(int index) => _offsets[Check(index)];
    public ReadOnlySpan<byte> Blob => _blob.AsSpan(0, _size);

    /// <summary>The pointer value of argument <paramref name="index"/> (which must be a P).</summary>
    public IntPtr PointerAt(int index) => (IntPtr)BinaryPrimitives.ReadInt64LittleEndian(_blob.AsSpan(_offsets[Check(index)], 8));
    public int IntAt(int index) => BinaryPrimitives.ReadInt32LittleEndian(_blob.AsSpan(_offsets[Check(index)], 4));
    public float FloatAt(int index) => BinaryPrimitives.ReadSingleLittleEndian(_blob.AsSpan(_offsets[Check(index)], 4));

    /// <summary>An independent copy (the original may be reset and refilled afterwards).</summary>
    public KernelArgs Clone()
    {
        var c = new KernelArgs { _size = _size, _count = _count };
        _blob.AsSpan(0, _size).CopyTo(c._blob);
        _offsets.AsSpan(0, _count).CopyTo(c._offsets);
        _kinds.AsSpan(0, _count).CopyTo(c._kinds);
        return c;
    }

    private int Check(int index) => (uint)index < (uint)_count ? index : throw new ArgumentOutOfRangeException(nameof(index), $"argument {index} of {_count}");

    private Span<byte> Put(int bytes, char kind)
    {
        int off = (_size + bytes - 1) / bytes * bytes;
        if (off + bytes > MaxBytes || _count == MaxArgs) throw new InvalidOperationException($"kernel argument block over {MaxBytes} bytes or {MaxArgs} arguments");
        _offsets[_count] = off;
        _kinds[_count] = kind;
        _count++;
        _size = off + bytes;
        return _blob.AsSpan(off, bytes);
    }
}
