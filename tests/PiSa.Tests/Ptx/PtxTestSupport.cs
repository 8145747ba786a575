using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using PiSa.Cuda;
using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>
/// A fact that runs the PTX interpreter on NVRTC output. Skipped (with the reason) only when NVRTC is missing and
/// CI is not "true": CI fetches NVRTC, so there a missing compiler makes the test fail instead of skip.
/// </summary>
public sealed class PtxFactAttribute : FactAttribute
{
    public PtxFactAttribute()
    {
        if (!KernelCompiler.Available && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "NVRTC unavailable: " + KernelCompiler.UnavailableReason + " (run: source .ci/fetch-nvrtc.sh)";
    }
}

/// <summary>The theory counterpart of <see cref="PtxFactAttribute"/>.</summary>
public sealed class PtxTheoryAttribute : TheoryAttribute
{
    public PtxTheoryAttribute()
    {
        if (!KernelCompiler.Available && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "NVRTC unavailable: " + KernelCompiler.UnavailableReason + " (run: source .ci/fetch-nvrtc.sh)";
    }
}

/// <summary>Compiles CUDA C with the product's KernelCompiler for compute_80 (default options) and parses the PTX.</summary>
internal static class PtxCompile
{
    static readonly ConcurrentDictionary<string, PtxModule> Cache = new();

    public static string Ptx(string name, string source) =>
        KernelCompiler.Default.Compile(name, source, "compute_80").Ptx;

    public static PtxModule Module(string name, string source) =>
        Cache.GetOrAdd(name + "\n" + source, _ => PtxModule.Parse(Ptx(name, source), name));

    public static PtxKernel Kernel(string name, string source, string kernel) => Module(name, source).GetKernel(kernel);

    /// <summary>
    /// PTX for compute_90 (Hopper): NVRTC copies inline PTX into the output unchecked, so wgmma, which NVRTC 11.8
    /// cannot compile for sm_90a, reaches the interpreter exactly as written.
    /// </summary>
    public static PtxModule Module90(string name, string source) =>
        Cache.GetOrAdd("compute_90\n" + name + "\n" + source, _ => PtxModule.Parse(KernelCompiler.Default.Compile(name, source, "compute_90").Ptx, name));
}

/// <summary>A PtxMemory + PtxExecutor with typed upload/download helpers for tests.</summary>
/// <summary>Asserts that an interpreter run stops with a check failure that says where (PTX line) and how to
/// reproduce it (the seed); returns it for the caller's own assertions.</summary>
internal static class PtxChecks
{
    public static PtxCheckException Expect(Action a)
    {
        var e = Assert.Throws<PtxCheckException>(a);
        Assert.Contains("seed", e.Message);
        Assert.Contains("PTX line", e.Message);
        return e;
    }
}

internal sealed class PtxTestDevice
{
    public PtxMemory Memory { get; } = new(1L << 30);
    public PtxExecutor Executor { get; }

    public PtxTestDevice() => Executor = new PtxExecutor(Memory);

    public ulong Upload<T>(T[] data, string label) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(data.AsSpan());
        ulong p = Memory.Alloc(bytes.Length, label);
        Memory.Write(p, bytes);
        return p;
    }

    /// <summary>An output buffer: allocated poisoned and unwritten, as cuMemAlloc leaves it.</summary>
    public ulong Output<T>(int count, string label) where T : unmanaged =>
        Memory.Alloc((long)count * Marshal.SizeOf<T>(), label);

    public T[] Download<T>(ulong p, int count) where T : unmanaged
    {
        var r = new T[count];
        Memory.Read(p, MemoryMarshal.AsBytes(r.AsSpan()));
        return r;
    }

    public PtxLaunchStats Launch(PtxKernel k, PtxDim3 grid, PtxDim3 block, params object[] args) =>
        Launch(k, grid, block, 0, new PtxLaunchOptions(), args);

    public PtxLaunchStats Launch(PtxKernel k, PtxDim3 grid, PtxDim3 block, int dynShared, PtxLaunchOptions o, params object[] args) =>
        Executor.Launch(k, grid, block, dynShared, args.Select(Arg).ToArray(), o);

    public static byte[] Arg(object a) => a switch
    {
        ulong u => BitConverter.GetBytes(u),
        long l => BitConverter.GetBytes(l),
        int i => BitConverter.GetBytes(i),
        uint u => BitConverter.GetBytes(u),
        float f => BitConverter.GetBytes(f),
        double d => BitConverter.GetBytes(d),
        byte[] b => b,
        _ => throw new ArgumentException($"unsupported kernel argument type {a.GetType()}"),
    };
}
