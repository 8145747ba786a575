using PiSa.Cuda;
using PiSa.Engine.Bench;
using PiSa.Ptx;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// <see cref="IGpuRuntime"/> without a GPU: the kernels are compiled by the real <see cref="KernelCompiler"/> (same
/// options and disk cache as on a GPU) to PTX for <see cref="PtxArch"/>, and that PTX is executed by the PiSa.Ptx
/// interpreter, with its bounds, initialisation, race and barrier checks on every launch. Device memory is the
/// interpreter's host-backed address space (allocations poisoned and tracked as unwritten). <see cref="LinearF16"/>
/// follows cuBLASLt's contract on the CPU (<see cref="CpuLinearF16"/>). Everything runs synchronously on the calling
/// thread, so a kernel failure surfaces from <see cref="Launch"/> itself, naming kernel, block, thread and PTX line.
/// <see cref="CudaOps"/> runs on this unchanged: `--device ptx`.
///
/// Memory is counted twice: <see cref="PtxMemory.PeakBytes"/> is the high-water mark of live allocations, and
/// <see cref="Pool"/>, the real <see cref="DevicePool"/> fed the same allocations and frees (over an allocator that
/// hands out no memory), says what the CUDA runtime's pool would hold from the driver for this run, size classes and
/// cached blocks included: <see cref="PeakDeviceBytes"/> reports that, the figure `pisa bench` prints on a GPU.
/// </summary>
public sealed partial class PtxGpuRuntime : IGpuRuntime, IDeviceMemoryStats
{
    /// <summary>The virtual architecture the PTX is generated for: the oldest we target (sm_80), whose PTX every newer GPU also runs.</summary>
    public const string PtxArch = "compute_80";

    /// <summary>PISA_PTX_SEED: the first launch's scheduling seed (each later launch derives its own from it).</summary>
    public const string EnvSeed = "PISA_PTX_SEED";

    private readonly KernelCompiler _compiler;
    private readonly Func<string, string> _sourceOf;
    private readonly PtxMemory _memory;
    private readonly PtxExecutor _executor;
    private readonly Dictionary<string, PtxModule> _modules = new();
    private readonly Dictionary<IntPtr, long> _live = new();
    private readonly DevicePool _pool = new(new CountingAllocator());
    private readonly Dictionary<IntPtr, DeviceBuffer> _pooled = new();
    private readonly Dictionary<string, PtxLaunchStats> _tallies = new();
    private readonly int _seed;
    private long _launches;

    /// <param name="sourceOf">kernels/FILE source by file name (default <see cref="KernelSources.Get"/>): tests substitute
    /// deliberately broken copies to prove the checks catch them.</param>
    /// <param name="hasLinear">false makes CudaOps route linear layers through the implicit-GEMM conv kernel, as on a GPU without cuBLASLt.</param>
    /// <param name="capacityBytes">device memory to emulate (host memory is only used as allocated).</param>
    /// <param name="wgmma">plan convolutions as on an sm_90 GPU (the wgmma tile; also PISA_PTX_WGMMA=1).</param>
    public PtxGpuRuntime(Func<string, string>? sourceOf = null, bool hasLinear = true, long capacityBytes = 8L << 30, int? seed = null,
                         KernelCompiler? compiler = null, bool wgmma = false)
    {
        WgmmaByDefault = wgmma || Environment.GetEnvironmentVariable(EnvWgmma) == "1";
        if (!KernelCompiler.Available) throw new PisaException($"the PTX interpreter needs NVRTC to compile the kernels: {KernelCompiler.UnavailableReason}");
        _compiler = compiler ?? KernelCompiler.Default;
        _sourceOf = sourceOf ?? KernelSources.Get;
        _memory = new PtxMemory(capacityBytes);
        _executor = new PtxExecutor(_memory);
        HasLinear = hasLinear;
        _seed = seed ?? SeedFromEnvironment();
    }

    private static int SeedFromEnvironment()
    {
        string? s = Environment.GetEnvironmentVariable(EnvSeed);
        if (string.IsNullOrEmpty(s)) return 1;
        return int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v)
            ? v : throw new PisaException($"{EnvSeed}={s} is not an integer");
    }

    /// <summary>For messages: which device this is.</summary>
    public string Arch => $"ptx interpreter ({PtxArch})";

    public bool HasLinear { get; }

    /// <summary>PISA_PTX_WGMMA=1: the interpreter plans convolutions as an sm_90 GPU does (the wgmma tile).</summary>
    public const string EnvWgmma = "PISA_PTX_WGMMA";

    /// <summary>The interpreter runs the wgmma module (compiled for <see cref="KernelModule.InterpreterHopperArch"/>).</summary>
    public bool WgmmaAvailable => true;

    public bool WgmmaByDefault { get; }

    /// <summary>The memory the interpreter emulates (live and peak bytes, live allocations).</summary>
    public PtxMemory Memory => _memory;

    /// <summary>The peak of what the CUDA runtime's pool would hold for the same allocations (see the class summary).</summary>
    public long PeakDeviceBytes => _pool.PeakReservedBytes;

    /// <summary>The pool the CUDA runtime would have after the same allocations, frees and trims (accounting only).</summary>
    public DevicePool Pool => _pool;

    /// <summary>The pool's model needs addresses, not memory: each block gets a distinct made-up one.</summary>
    private sealed class CountingAllocator : IDeviceAllocator
    {
        private ulong _next = 1UL << 40;
        public ulong Allocate(long bytes) { ulong p = _next; _next += (ulong)bytes; return p; }
        public void Free(ulong ptr) { }
    }

    public void TrimCache()
    {
        RefuseWhileCapturing("trimming the device pool");
        _pool.Trim();
    }

    /// <summary>PISA_PTX_DEVICE_MEMORY: the device capacity the interpreter pretends to have for planning (e.g. 2G),
    /// so the CUDA backend's automatic tiling runs and is tested without a GPU.</summary>
    public const string EnvDeviceMemory = "PISA_PTX_DEVICE_MEMORY";

    /// <summary>From <see cref="EnvDeviceMemory"/>; null (the host's memory is the device's) when unset.</summary>
    public long? DeviceBudgetBytes =>
        Environment.GetEnvironmentVariable(EnvDeviceMemory) is { Length: > 0 } v ? Pipeline.MemorySize.Parse(v, EnvDeviceMemory) : null;

    /// <summary>The counters of the last kernel launch (the profiler reads them after each launch).</summary>
    public PtxLaunchStats? LastLaunchStats { get; private set; }

    /// <summary>Summed interpreter counters (launch count included) per kernel since creation: what the profile and selftest print.</summary>
    public IReadOnlyDictionary<string, PtxLaunchStats> Tallies => _tallies;

    /// <summary>Thread-instructions executed so far, all kernels.</summary>
    public long TotalInstructions => _tallies.Values.Sum(t => t.TotalInstructions);

    /// <summary>Kernel launches so far (each one's scheduling seed is derived from the base seed and this index).</summary>
    public long Launches => _launches;

    public IntPtr Alloc(long bytes)
    {
        if (_graphs.TryReuse(bytes, out var reused)) return reused;
        var p = (IntPtr)(long)_memory.Alloc(bytes);
        _live.Add(p, bytes);
        _pooled.Add(p, _pool.Rent(bytes));
        _graphs.Allocated(p, bytes);
        return p;
    }

    public void Free(IntPtr ptr, long bytes)
    {
        if (!_live.TryGetValue(ptr, out long had)) throw new PisaException($"free of 0x{ptr:x}, which is not a live device allocation");
        if (had != bytes) throw new PisaException($"free of 0x{ptr:x} with {bytes} bytes, allocated with {had}");
        if (_graphs.KeepOnFree(ptr, bytes)) return;   // a graph's memory: its replays still write it
        _live.Remove(ptr);
        _memory.Free((ulong)(long)ptr);
        if (_pooled.Remove(ptr, out var b)) b.Dispose();
    }

    public void CopyToDevice(IntPtr dst, ReadOnlySpan<byte> src)
    {
        RefuseWhileCapturing("a host-to-device copy");
        _memory.Write((ulong)(long)dst, src);
    }

    public void CopyToHost(Span<byte> dst, IntPtr src)
    {
        RefuseWhileCapturing("a device-to-host copy");
        _memory.Read((ulong)(long)src, dst);
    }

    /// <summary>Work runs synchronously in <see cref="Launch"/>: nothing is ever pending.</summary>
    public void Synchronize() => RefuseWhileCapturing("a synchronisation");

    public void Launch(string file, string kernel, Dim3 grid, Dim3 block, int sharedBytes, KernelArgs args)
    {
        var fn = Module(file).GetKernel(kernel);
        if (args.Count != fn.Params.Count)
            throw new PisaException($"{kernel}: {args.Count} arguments ({args.Kinds}) for {fn.Params.Count} parameters");
        var blob = args.Blob;
        var values = new byte[args.Count][];
        for (int i = 0; i < args.Count; i++)
        {
            int size = ArgSize(args.KindAt(i));
            if (size != fn.Params[i].Size)
                throw new PisaException($"{kernel}: argument {i} ({args.KindAt(i)}, {size} bytes) does not match parameter {fn.Params[i].Name} ({fn.Params[i].Size} bytes)");
            values[i] = blob.Slice(args.OffsetAt(i), size).ToArray();
        }
        if (_graphs.Recording is { } g) { RecordLaunch(g, fn, kernel, grid, block, sharedBytes, values, args); return; }
        Execute(fn, kernel, grid, block, sharedBytes, values);
    }

    private void Execute(PtxKernel fn, string kernel, Dim3 grid, Dim3 block, int sharedBytes, byte[][] values)
    {
        var options = new PtxLaunchOptions
        {
            Seed = unchecked(_seed + (int)_launches * (int)0x9E3779B1),
            // The real runtime raises the function's dynamic shared memory attribute when a launch needs more than 48 KB.
            MaxDynamicSharedBytes = Math.Max(LaunchMath.MaxSharedBytes, sharedBytes),
        };
        _launches++;
        var stats = _executor.Launch(fn, new PtxDim3(grid.X, grid.Y, grid.Z), new PtxDim3(block.X, block.Y, block.Z), sharedBytes, values, options);
        LastLaunchStats = stats;
        if (_tallies.TryGetValue(kernel, out var tally)) tally.Add(stats);
        else _tallies[kernel] = stats;
    }

    private static int ArgSize(char kind) => kind switch
    {
        'P' => 8,
        'I' or 'F' => 4,
        _ => throw new PisaException($"unknown kernel argument kind '{kind}'"),
    };

    /// <summary>Compiles kernels/<paramref name="file"/> (or its variant, <see cref="KernelModule"/>) to PTX
    /// (disk-cached) and decodes it, once per module.</summary>
    private PtxModule Module(string file)
    {
        if (_modules.TryGetValue(file, out var m)) return m;
        var km = KernelModule.Parse(file);
        var compiled = _compiler.Compile(file, _sourceOf(km.File), km.NeedsWgmma ? KernelModule.InterpreterHopperArch : PtxArch, km.Options);
        m = PtxModule.Parse(compiled.Ptx, file);
        _modules[file] = m;
        return m;
    }

    public void LoadModule(string module) => Module(module);

    public void LinearF16(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y, int rows, int inF, int outF)
    {
        if (!HasLinear) throw new PisaException("LinearF16 called on a runtime created without it");
        if (_graphs.Recording is { } g) { RecordLinear(g, x, w, bias, residual, y, rows, inF, outF); return; }
        CpuLinearF16.Run(_memory, (ulong)(long)x, (ulong)(long)w, (ulong)(long)bias, (ulong)(long)residual, (ulong)(long)y, rows, inF, outF);
    }

    public void Dispose()
    {
        foreach (var p in _live.Keys) _memory.Free((ulong)(long)p);
        _live.Clear();
        foreach (var b in _pooled.Values) b.Dispose();
        _pooled.Clear();
        _pool.Dispose();
    }
}
