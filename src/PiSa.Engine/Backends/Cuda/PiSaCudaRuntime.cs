using PiSa.Cuda;
using CuDim3 = PiSa.Cuda.Dim3;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// <see cref="IGpuRuntime"/> over PiSa.Cuda: one context, one stream, the pooled allocator, the NVRTC
/// KernelCompiler (disk cache) and cuBLASLt when present. Kernels are compiled per file at first use for
/// the device's sm_XX, or as PTX for the newest architecture NVRTC knows when the device is newer.
/// Not written against a GPU yet: checked on a GPU machine by <see cref="OpsSelfTest"/>.
/// </summary>
public sealed unsafe partial class PiSaCudaRuntime : IGpuRuntime, Bench.IDeviceMemoryStats
{
    private readonly CudaContext _ctx;
    /// <summary>The thread the context was last made current on (a CUDA context is current per thread).</summary>
    private int _ctxThread = Environment.CurrentManagedThreadId;
    private readonly CudaStream _stream;
    private readonly DevicePool _pool = new();
    private readonly KernelCompiler _compiler = KernelCompiler.Default;
    private readonly CublasLtGemm? _lt;
    private readonly Dictionary<IntPtr, DeviceBuffer> _live = new();
    private readonly Dictionary<string, CudaModule> _modules = new();
    private readonly Dictionary<(string, string), CudaKernel> _kernels = new();
    private readonly Dictionary<CudaKernel, int> _smemRaised = new();

    public string Arch { get; }

    /// <summary>The one stream all work goes to (the profiler records its events there).</summary>
    internal nint StreamHandle => _stream.Handle;
    public bool HasLinear => _lt is not null;

    /// <summary>PISA_CUDA_WGMMA=off keeps sm_90 on the mma.sync tiles (to compare the two end to end).</summary>
    public const string EnvWgmma = "PISA_CUDA_WGMMA";

    /// <summary>The target the wgmma module compiles for on this GPU (<see cref="KernelModule.GpuHopperArch"/>), or null.</summary>
    private readonly string? _hopperArch;

    public bool WgmmaAvailable => _hopperArch is not null;

    public bool WgmmaByDefault { get; }

    private PiSaCudaRuntime(CudaContext ctx)
    {
        _ctx = ctx;
        _stream = CudaStream.Create();
        int cc = ctx.ComputeCapability;
        int[] sup = KernelCompiler.SupportedArchs();
        if (sup.Length == 0) throw new PisaException($"NVRTC: {KernelCompiler.UnavailableReason}");
        Arch = sup.Contains(cc) ? $"sm_{cc}" : $"compute_{sup.Where(a => a <= cc).DefaultIfEmpty(sup.Min()).Max()}";
        _hopperArch = KernelModule.GpuHopperArch(cc);
        WgmmaByDefault = WgmmaAvailable && Environment.GetEnvironmentVariable(EnvWgmma) != "off";   // read once, not per conv
        _lt = CreateLinear(out string? why);
        LinearUnavailableReason = why;
    }

    /// <summary>Why <see cref="HasLinear"/> is false (null when cuBLASLt is in use): Linear then runs on the
    /// implicit-GEMM kernel.</summary>
    public string? LinearUnavailableReason { get; }

    /// <summary>cuBLASLt is optional: a library that loads but cannot start (e.g. a libcublasLt newer than the
    /// driver, which fails cublasLtCreate or its workspace allocation) must not take the whole CUDA backend down.</summary>
    private static CublasLtGemm? CreateLinear(out string? why)
    {
        why = null;
        if (!CublasLtGemm.Available) { why = "libcublasLt not found"; return null; }
        try { return new CublasLtGemm(); }
        catch (Exception e) when (e is CudaException or EntryPointNotFoundException or DllNotFoundException)
        {
            why = e.Message;
            return null;
        }
    }

    /// <summary>A CudaOps on device <paramref name="ordinal"/> (0 by default; `--gpu N`), or the reason there is none.</summary>
    public static (IOps? Ops, string? Reason) TryCreateOps(int ordinal = 0)
    {
        var (ok, reason) = CudaAvailability.Probe();
        if (!ok) return (null, reason);
        if (!KernelCompiler.Available) return (null, KernelCompiler.UnavailableReason);
        var r = PiSa.Cuda.Native.CuDriver.cuDeviceGetCount(out int count);
        if (r != PiSa.Cuda.Native.CUresult.CUDA_SUCCESS) return (null, $"cuDeviceGetCount failed: {CudaErrors.Name(r)}");
        if (ordinal < 0 || ordinal >= count) return (null, $"--gpu {ordinal}: this machine has {count} CUDA device(s), numbered 0 to {count - 1}");
        try { return (new CudaOps(new PiSaCudaRuntime(CudaContext.Create(ordinal))), null); }
        catch (Exception e) { return (null, e.Message); }
    }

    /// <summary>Every entry point that reaches the driver calls this first: CudaContext.Create made the context
    /// current only on the creating thread, and a driver call from any other thread (a thread-pool continuation,
    /// a test runner's worker) would fail with CUDA_ERROR_INVALID_CONTEXT.</summary>
    private void OnCallingThread()
    {
        int t = Environment.CurrentManagedThreadId;
        if (t == _ctxThread) return;
        _ctx.MakeCurrent();
        _ctxThread = t;
    }

    /// <summary>The most device memory the pool held from the driver at once (blocks in use and cached); cuBLASLt's
    /// workspace and the modules are not included (the device plan counts them in its runtime part).</summary>
    public long PeakDeviceBytes => _pool.PeakReservedBytes;

    /// <summary>cuMemFree may not free memory that queued kernels still use: the stream is drained first.</summary>
    public void TrimCache()
    {
        OnCallingThread();
        RefuseWhileCapturing("trimming the device pool");
        _stream.Synchronize();
        _pool.Trim();
    }

    /// <summary>Free device memory (the driver's figure, other processes counted) plus the pool's blocks and the
    /// context, both of which the device estimate (<see cref="Pipeline.DeviceMemoryEstimator"/>) counts in its total.</summary>
    public long? DeviceBudgetBytes
    {
        get
        {
            OnCallingThread();
            return _ctx.MemoryInfo().Free + _pool.ReservedBytes + Pipeline.DeviceMemoryEstimator.RuntimeBytes;
        }
    }

    public IntPtr Alloc(long bytes)
    {
        OnCallingThread();
        if (_graphs.TryReuse(bytes, out var reused)) return reused;
        var b = _pool.Rent(bytes);
        var p = (IntPtr)(long)b.Ptr;
        _live.Add(p, b);
        _graphs.Allocated(p, bytes);
        return p;
    }

    public void Free(IntPtr ptr, long bytes)
    {
        if (!_live.ContainsKey(ptr) || _graphs.KeepOnFree(ptr, bytes)) return;   // a graph's memory stays with the graph
        if (_live.Remove(ptr, out var b)) b.Dispose();   // back to the pool; later work on the one stream is ordered after
    }

    private DeviceBuffer Buf(IntPtr p) =>
        _live.TryGetValue(p, out var b) ? b : throw new InvalidOperationException($"0x{p:x} is not the start of a live device buffer");

    public void CopyToDevice(IntPtr dst, ReadOnlySpan<byte> src)
    {
        OnCallingThread();
        RefuseWhileCapturing("a host-to-device copy");
        Buf(dst).CopyFromHost(src, 0, _stream);
        _stream.Synchronize();   // the managed source may move or be reused once we return
    }

    public void CopyToHost(Span<byte> dst, IntPtr src)
    {
        OnCallingThread();
        RefuseWhileCapturing("a device-to-host copy");
        Buf(src).CopyToHost(dst, 0, _stream);   // synchronises the stream
    }

    public void Synchronize()
    {
        OnCallingThread();
        RefuseWhileCapturing("a synchronisation");
        _stream.Synchronize();
    }

    public void Launch(string file, string kernel, Dim3 grid, Dim3 block, int sharedBytes, KernelArgs args)
    {
        OnCallingThread();
        if (!_kernels.TryGetValue((file, kernel), out var fn))
        {
            fn = Module(file).GetKernel(kernel);
            _kernels[(file, kernel)] = fn;
        }
        if (sharedBytes > LaunchMath.MaxSharedBytes && (!_smemRaised.TryGetValue(fn, out int raised) || raised < sharedBytes))
        {
            fn.SetMaxDynamicSharedMemory(sharedBytes);   // a driver call: once per kernel and size, not per launch
            _smemRaised[fn] = sharedBytes;
        }
        if (_graphs.Recording is { } rec)
        {
            rec.Launches++;
            _graphs.Read(args);
        }
        ReadOnlySpan<byte> blob = args.Blob;
        void** ptrs = stackalloc void*[Math.Max(args.Count, 1)];
        fixed (byte* b = blob)
        {
            for (int i = 0; i < args.Count; i++) ptrs[i] = b + args.OffsetAt(i);
            fn.Launch(new CuDim3((uint)grid.X, (uint)grid.Y, (uint)grid.Z), new CuDim3((uint)block.X, (uint)block.Y, (uint)block.Z),
                      ptrs, _stream.Handle, sharedBytes);
        }
    }

    public void LoadModule(string module)
    {
        OnCallingThread();
        Module(module);
    }

    /// <summary>Compiles (disk-cached) and loads a module at its first use: a kernels/*.cu file for <see cref="Arch"/>,
    /// the wgmma variant for sm_90a.</summary>
    private CudaModule Module(string file)
    {
        if (_modules.TryGetValue(file, out var module)) return module;
        var m = KernelModule.Parse(file);
        string arch = !m.NeedsWgmma ? Arch : _hopperArch
            ?? throw new PisaException($"{file}: the wgmma kernels need an sm_90 GPU and NVRTC 12 or newer (this is {Arch}, NVRTC {KernelCompiler.NvrtcVersion.Major}.{KernelCompiler.NvrtcVersion.Minor})");
        var compiled = _compiler.Compile(file, KernelSources.Get(m.File), arch, m.Options);
        module = CudaModule.Load(compiled);
        _modules[file] = module;
        return module;
    }

    public void LinearF16(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y, int rows, int inF, int outF)
    {
        OnCallingThread();
        if (_graphs.Recording is { } rec)
        {
            rec.LinearCalls++;
            _graphs.ReadLinear(x, w, bias, residual, y);
        }
        float beta = 0f;
        if (residual != IntPtr.Zero)
        {
            Buf(y).CopyFrom(Buf(residual), (long)rows * outF * 2, stream: _stream);
            beta = 1f;
        }
        _lt!.Linear((ulong)(long)x, (ulong)(long)w, (ulong)(long)bias, (ulong)(long)y, rows, outF, inF,
                    bias == IntPtr.Zero ? GemmEpilogue.None : GemmEpilogue.Bias, _stream, beta);
    }

    public void Dispose()
    {
        try { OnCallingThread(); } catch (CudaException) { }
        try { _stream.Synchronize(); } catch (CudaException) { }
        foreach (var b in _live.Values) b.Dispose();
        _live.Clear();
        foreach (var m in _modules.Values) m.Dispose();
        _lt?.Dispose();
        _pool.Dispose();
        _stream.Dispose();
        _ctx.Dispose();
    }
}
