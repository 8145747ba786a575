using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PiSa.Cuda;

/// <summary>
/// Kernel parameters for cuLaunchKernel: each value is copied into native memory and a pointer to it
/// goes into the <c>void**</c> array the driver reads (the driver copies the values at launch, so the
/// object can be cleared and reused right after). Values must be blittable and match the kernel's
/// parameter types exactly (int vs long, float vs half...).
/// <code>
/// using var a = new KernelArgs();
/// a.Add(dst.Ptr).Add(src.Ptr).Add(n).Add(1.0f);
/// kernel.Launch(grid, block, a, stream);
/// </code>
/// </summary>
public sealed unsafe class KernelArgs : IDisposable
{
    public const int MaxArgs = 64;
    private const int SlotBytes = 16;          // enough for any scalar or pointer, 16-byte aligned
    private const int MaxValueBytes = 4096;    // CUDA's classic parameter-space limit

    private byte* _values;
    private void** _pointers;
    private int _count;
    private int _used;

    public KernelArgs()
    {
        _values = (byte*)NativeMemory.AlignedAlloc(MaxValueBytes, 16);
        _pointers = (void**)NativeMemory.Alloc(MaxArgs, (nuint)sizeof(void*));
    }

    public int Count => _count;

    /// <summary>The array to pass to cuLaunchKernel.</summary>
    public void** Pointers
    {
        get
        {
            ObjectDisposedException.ThrowIf(_values == null, this);
            return _pointers;
        }
    }

    /// <summary>Appends one parameter (a CUdeviceptr as <c>ulong</c>, an int, a float, a small struct...).</summary>
    public KernelArgs Add<T>(T value) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_values == null, this);
        int size = sizeof(T);
        int slot = (size + SlotBytes - 1) / SlotBytes * SlotBytes;
        if (_count >= MaxArgs || _used + slot > MaxValueBytes)
            throw new InvalidOperationException($"KernelArgs: more than {MaxArgs} parameters or {MaxValueBytes} bytes");
        byte* dst = _values + _used;
        Unsafe.WriteUnaligned(dst, value);
        _pointers[_count++] = dst;
        _used += slot;
        return this;
    }

    /// <summary>Appends a device buffer's pointer.</summary>
    public KernelArgs Add(DeviceBuffer buffer) => Add(buffer.Ptr);

    /// <summary>Forgets all parameters (keeps the memory).</summary>
    public KernelArgs Clear()
    {
        _count = 0;
        _used = 0;
        return this;
    }

    public void Dispose()
    {
        if (_values == null)
            return;
        NativeMemory.AlignedFree(_values);
        NativeMemory.Free(_pointers);
        _values = null;
        _pointers = null;
    }
}
