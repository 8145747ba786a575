using System.Runtime.InteropServices;

namespace PiSa.Engine.Backends.Cpu.X64;

/// <summary>
/// Machine code placed in its own anonymous mapping, written while read+write and then switched to read+execute
/// (never writable and executable at once). Mapped once per process and never unmapped: each kernel it holds
/// is a static of its micro-kernel class.
/// </summary>
internal static unsafe partial class ExecutableMemory
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;  // Linux values

    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int munmap(nint addr, nuint length);

    /// <summary>A read+execute copy of <paramref name="code"/>; throws with errno when the OS refuses.</summary>
    public static nint Map(ReadOnlySpan<byte> code)
    {
        if (!OperatingSystem.IsLinux()) throw new PisaException("executable memory for the CPU GEMM kernels needs Linux");
        nuint size = (nuint)((code.Length + 4095) & ~4095);
        nint p = mmap(0, size, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (p == -1 || p == 0)
            throw new PisaException($"CPU GEMM kernel: mmap of {size} bytes failed (errno {Marshal.GetLastSystemError()})");
        code.CopyTo(new Span<byte>((void*)p, code.Length));
        if (mprotect(p, size, ProtRead | ProtExec) != 0)
        {
            int errno = Marshal.GetLastSystemError();
            munmap(p, size);
            throw new PisaException($"CPU GEMM kernel: mprotect to read+execute failed (errno {errno}; a W^X policy such as SELinux execmem may forbid it)");
        }
        return p;
    }
}
