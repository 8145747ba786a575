using System.Diagnostics;

namespace PiSa.Ptx;

/// <summary>Runs kernels of decoded modules on a <see cref="PtxMemory"/>, one launch at a time.</summary>
public sealed class PtxExecutor
{
    public PtxMemory Memory { get; }

    /// <summary>Phase counter shared by all launches, so race-check stamps of an earlier block never match.</summary>
    internal uint Phase;

    public PtxExecutor(PtxMemory memory) => Memory = memory ?? throw new ArgumentNullException(nameof(memory));

    /// <summary>
    /// Runs one launch to completion. args[i] holds the bytes of parameter i (length must equal Params[i].Size,
    /// else <see cref="PtxLaunchException"/>), as cuLaunchKernel's kernelParams.
    /// </summary>
    public PtxLaunchStats Launch(PtxKernel kernel, PtxDim3 grid, PtxDim3 block, int dynamicSharedBytes,
        IReadOnlyList<byte[]> args, PtxLaunchOptions options)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(options);
        Validate(kernel, grid, block, dynamicSharedBytes, args, options);
        var param = new byte[Math.Max(kernel.ParamBytes, 1)];
        for (int i = 0; i < args.Count; i++)
            args[i].CopyTo(param, kernel.Params[i].Offset);
        var sw = Stopwatch.StartNew();
        var run = new BlockRunner(this, kernel, grid, block, dynamicSharedBytes, param, options);
        try
        {
            run.RunGrid();
        }
        finally
        {
            Memory.EndLaunch();
        }
        run.Stats.WallTime = sw.Elapsed;
        run.Stats.Launches = 1;
        return run.Stats;
    }

    static void Validate(PtxKernel k, PtxDim3 grid, PtxDim3 block, int dyn, IReadOnlyList<byte[]> args, PtxLaunchOptions o)
    {
        string who = $"launch of {k.Name}";
        if (grid.X < 1 || grid.Y < 1 || grid.Z < 1 || grid.Y > 65535 || grid.Z > 65535)
            throw new PtxLaunchException($"{who}: invalid grid ({grid.X},{grid.Y},{grid.Z})");
        if (block.X < 1 || block.Y < 1 || block.Z < 1)
            throw new PtxLaunchException($"{who}: invalid block ({block.X},{block.Y},{block.Z})");
        long threads = block.Count;
        if (threads > 1024)
            throw new PtxLaunchException($"{who}: {threads} threads per block, over the device limit of 1024");
        if (block.Z > 64)
            throw new PtxLaunchException($"{who}: block z dimension {block.Z} over the device limit of 64");
        if (k.MaxThreadsPerBlock is int max && threads > max)
            throw new PtxLaunchException($"{who}: {threads} threads per block, over the kernel's .maxntid of {max}");
        if (dyn < 0) throw new PtxLaunchException($"{who}: negative dynamic shared memory size");
        if (k.StaticSharedBytes > 48 * 1024)
            throw new PtxLaunchException($"{who}: {k.StaticSharedBytes} bytes of static shared memory, over the 48 KB limit");
        if (dyn > o.MaxDynamicSharedBytes)
            throw new PtxLaunchException($"{who}: {dyn} bytes of dynamic shared memory, over the kernel's limit of " +
                                         $"{o.MaxDynamicSharedBytes} (raise it with cuFuncSetAttribute)");
        if ((long)k.DynamicSharedBase + dyn > o.SharedMemoryLimit || (long)k.StaticSharedBytes + dyn > o.SharedMemoryLimit)
            throw new PtxLaunchException($"{who}: {k.StaticSharedBytes} static + {dyn} dynamic bytes of shared memory, over " +
                                         $"the device limit of {o.SharedMemoryLimit}");
        if (args.Count != k.Params.Count)
            throw new PtxLaunchException($"{who}: {args.Count} arguments given, the kernel takes {k.Params.Count}");
        for (int i = 0; i < args.Count; i++)
            if (args[i] == null || args[i].Length != k.Params[i].Size)
                throw new PtxLaunchException($"{who}: argument {i} ({k.Params[i].Name}) has {args[i]?.Length ?? 0} bytes, " +
                                             $"the parameter has {k.Params[i].Size}");
    }
}
