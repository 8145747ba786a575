namespace PiSa.Engine.Backends.Cuda;

/// <summary>Launch dimensions (x, y, z), as CUDA's dim3.</summary>
public readonly record struct Dim3(int X, int Y = 1, int Z = 1)
{
    public override string ToString() => $"({X},{Y},{Z})";
}

/// <summary>
/// What <see cref="CudaOps"/> needs from the CUDA runtime (PiSa.Cuda: context, stream, pooled device
/// buffers, NVRTC KernelCompiler with its disk cache, cuBLASLt). Kept as a narrow interface so the ops
/// compile and can be checked on machines without a GPU (tests drive it with a recording fake), and
/// so that the runtime's own types stay free of model/ops knowledge. The adapter over PiSa.Cuda
/// implements it; all work is issued in order on one stream.
/// </summary>
public interface IGpuRuntime : IDisposable
{
    /// <summary>Target architecture the kernels are compiled for, e.g. "sm_90" (for messages).</summary>
    string Arch { get; }

    /// <summary>Device memory of at least <paramref name="bytes"/> bytes, 256-byte aligned, from a pool
    /// (stream-ordered: memory given back with <see cref="Free"/> may be handed out again to later work).</summary>
    IntPtr Alloc(long bytes);

    /// <summary>Returns memory from <see cref="Alloc"/> to the pool (work already queued may still read it).</summary>
    void Free(IntPtr ptr, long bytes);

    /// <summary>Gives the pool's cached blocks (freed, not in use) back to the driver once the queued work that may
    /// still read them is done: the pool's classes only serve equal sizes, so this is what keeps one phase's freed
    /// blocks from adding to the next phase's peak. Later allocations of those sizes go to the driver again.</summary>
    void TrimCache() { }

    /// <summary>Host to device copy, ordered after queued work; <paramref name="src"/> may be reused as soon as it returns.</summary>
    void CopyToDevice(IntPtr dst, ReadOnlySpan<byte> src);

    /// <summary>Device to host copy; blocks until all queued work and the copy are done, and reports any
    /// asynchronous kernel failure.</summary>
    void CopyToHost(Span<byte> dst, IntPtr src);

    /// <summary>Blocks until all queued work is done; reports any asynchronous kernel failure.</summary>
    void Synchronize();

    /// <summary>Launches <paramref name="kernel"/> (an extern "C" name) from kernels/<paramref name="file"/> (or a
    /// variant of it, <see cref="KernelModule"/>), compiling that module at first use (source:
    /// <see cref="KernelSources.Get"/>). Throws with the driver's error name when compilation or the launch fails.</summary>
    void Launch(string file, string kernel, Dim3 grid, Dim3 block, int sharedBytes, KernelArgs args);

    /// <summary>Whether kernels of the wgmma module (<see cref="KernelModule"/>: conv_pipe.cu's Hopper tile) can be
    /// compiled and run here: an sm_90 GPU with NVRTC 12 or newer, or the PTX interpreter.</summary>
    bool WgmmaAvailable => false;

    /// <summary>Whether the convolution planner should use the wgmma tile (sm_90 by default, unless turned off).</summary>
    bool WgmmaByDefault => false;

    /// <summary>Compiles and loads a module now (what <see cref="Launch"/> does at its first use), so a caller can
    /// fall back when it fails: throws as Launch would.</summary>
    void LoadModule(string module) { }

    /// <summary>True when cuBLASLt is loaded and <see cref="LinearF16"/> may be called.</summary>
    bool HasLinear { get; }

    /// <summary>cuBLASLt (PiSa.Cuda CublasLtGemm.Linear): y[rows, outF] = x[rows, inF] * w[outF, inF]^T + bias
    /// (+ residual), all row-major fp16 (the bias too: cuBLASLt's bias has the output's type), fp32 compute.
    /// <paramref name="bias"/> and <paramref name="residual"/> may be zero (absent); with a residual the adapter
    /// copies it into y and runs the GEMM with beta = 1. Called only with inF % 8 == 0.</summary>
    void LinearF16(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y, int rows, int inF, int outF);
}
