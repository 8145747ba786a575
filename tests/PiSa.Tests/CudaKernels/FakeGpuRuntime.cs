using PiSa.Engine.Backends.Cuda;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// A GPU-less stand-in for the CUDA runtime: hands out fake device addresses backed by host arrays,
/// records every launch (kernel, geometry, packed arguments) and runs nothing. Lets tests check what
/// CudaOps would ask of a real device: argument kinds, pointers, grid and shared-memory sizes.
/// </summary>
internal sealed class FakeGpuRuntime : IGpuRuntime
{
    /// <summary>One launch; <paramref name="BytesLeft"/>[i] is, at launch time, the bytes from pointer argument i
    /// to the end of its allocation (0 for a null pointer, -1 for a pointer into no live allocation).</summary>
    public sealed record Launched(string File, string Kernel, Dim3 Grid, Dim3 Block, int Shared, KernelArgs Args, long[] BytesLeft);

    private long _next = 0x7000_0000_0000;
    public readonly Dictionary<long, byte[]> Live = new();
    public readonly List<Launched> Launches = new();
    public int Frees;

    /// <summary>Bytes of device memory allocated and not yet freed.</summary>
    public long LiveBytes => Live.Values.Sum(b => b.LongLength);

    public string Arch => "sm_fake";
    public bool HasLinear { get; set; }
    public int LinearCalls;

    public IntPtr Alloc(long bytes)
    {
        long p = _next;
        _next += (bytes + 255) / 256 * 256 + 256;
        Live[p] = new byte[bytes];
        return (IntPtr)p;
    }

    public void Free(IntPtr ptr, long bytes)
    {
        if (!Live.Remove(ptr.ToInt64(), out var b)) throw new InvalidOperationException($"free of unknown pointer 0x{ptr:x}");
        if (b.LongLength != bytes) throw new InvalidOperationException($"free of 0x{ptr:x} with {bytes} bytes, allocated {b.LongLength}");
        Frees++;
    }

    /// <summary>The allocation containing <paramref name="p"/>, with the bytes left from p to its end.</summary>
    public bool Owns(IntPtr p, out long bytesLeft)
    {
        foreach (var (start, b) in Live)
            if (p.ToInt64() >= start && p.ToInt64() < start + b.LongLength) { bytesLeft = start + b.LongLength - p.ToInt64(); return true; }
        bytesLeft = 0;
        return false;
    }

    public void CopyToDevice(IntPtr dst, ReadOnlySpan<byte> src)
    {
        if (!Live.TryGetValue(dst.ToInt64(), out var b) || b.Length < src.Length) throw new InvalidOperationException("copy to a bad device pointer");
        src.CopyTo(b);
    }

    public void CopyToHost(Span<byte> dst, IntPtr src)
    {
        if (!Live.TryGetValue(src.ToInt64(), out var b) || b.Length < dst.Length) throw new InvalidOperationException("copy from a bad device pointer");
        b.AsSpan(0, dst.Length).CopyTo(dst);
    }

    public void Launch(string file, string kernel, Dim3 grid, Dim3 block, int sharedBytes, KernelArgs args)
    {
        var left = new long[args.Count];
        for (int i = 0; i < args.Count; i++)
            if (args.KindAt(i) == 'P')
                left[i] = args.PointerAt(i) == IntPtr.Zero ? 0 : Owns(args.PointerAt(i), out long l) ? l : -1;
        Launches.Add(new Launched(file, kernel, grid, block, sharedBytes, args.Clone(), left));   // CudaKernels reuses args
    }

    public void LinearF16(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y, int rows, int inF, int outF) => LinearCalls++;

    public int Syncs;
    public void Synchronize() => Syncs++;

    public void Dispose() { }
}
