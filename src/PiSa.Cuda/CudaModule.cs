using System.Text;
using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// A loaded module (cubin, or PTX the driver JIT-compiles) and the kernels looked up in it.
/// Disposing unloads the module; its kernels become invalid.
/// </summary>
public sealed unsafe class CudaModule : IDisposable
{
    public nint Handle { get; private set; }

    /// <summary>A label for error messages (e.g. the .cu file name).</summary>
    public string Name { get; }

    private readonly Dictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);

    private CudaModule(nint h, string name)
    {
        Handle = h;
        Name = name;
    }

    /// <summary>
    /// Loads a cubin or PTX image. PTX must be NUL-terminated (a terminator is added when missing).
    /// The JIT's error log, if any, is part of the exception message.
    /// </summary>
    public static CudaModule Load(ReadOnlySpan<byte> image, string name = "module")
    {
        bool isElf = image.Length >= 4 && image[0] == 0x7f && image[1] == (byte)'E' && image[2] == (byte)'L' && image[3] == (byte)'F';
        byte[] owned = !isElf && (image.Length == 0 || image[^1] != 0) ? [.. image, 0] : image.ToArray();

        const int LogSize = 16 * 1024;
        byte* errorLog = stackalloc byte[LogSize];
        errorLog[0] = 0;
        CUjit_option* opts = stackalloc CUjit_option[2];
        void** vals = stackalloc void*[2];
        opts[0] = CUjit_option.CU_JIT_ERROR_LOG_BUFFER;
        vals[0] = errorLog;
        opts[1] = CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES;
        vals[1] = (void*)(nint)LogSize;

        nint h;
        CUresult r;
        fixed (byte* p = owned)
            r = CuDriver.cuModuleLoadDataEx(out h, p, 2, opts, vals);
        if (r != CUresult.CUDA_SUCCESS)
        {
            int n = 0;
            while (n < LogSize && errorLog[n] != 0) n++;
            string log = Encoding.UTF8.GetString(errorLog, n).Trim().ReplaceLineEndings(" | ");
            CudaException.Check(r, "cuModuleLoadDataEx",
                $"{name}, {(isElf ? "cubin" : "PTX")} {image.Length} bytes" + (log.Length > 0 ? $": {log}" : ""));
        }
        return new CudaModule(h, name);
    }

    /// <summary>Loads a compiled kernel file (cubin or PTX) from <see cref="KernelCompiler"/>.</summary>
    public static CudaModule Load(CompiledModule compiled) => Load(compiled.Image, compiled.Name);

    /// <summary>The kernel named <paramref name="entry"/> (its C name: declare kernels <c>extern "C"</c>). Cached.</summary>
    public CudaKernel GetKernel(string entry)
    {
        ObjectDisposedException.ThrowIf(Handle == 0, this);
        lock (_kernels)
        {
            if (_kernels.TryGetValue(entry, out var k))
                return k;
            CudaException.Check(CuDriver.cuModuleGetFunction(out nint f, Handle, entry), "cuModuleGetFunction", $"'{entry}' in {Name}");
            k = new CudaKernel(f, entry, this);
            _kernels[entry] = k;
            return k;
        }
    }

    public void Dispose()
    {
        if (Handle == 0)
            return;
        CuDriver.cuModuleUnload(Handle);
        Handle = 0;
    }
}
