namespace PiSa.Ptx;

/// <summary>A kernel parameter as laid out in the .param space (Offset within the parameter buffer).</summary>
public sealed record PtxParam(string Name, int Size, int Align, int Offset);

/// <summary>Grid or block dimensions.</summary>
public readonly record struct PtxDim3(int X, int Y = 1, int Z = 1)
{
    public long Count => (long)X * Y * Z;
}

/// <summary>Options of one launch.</summary>
public sealed record PtxLaunchOptions
{
    /// <summary>Seeds the block and thread scheduling order; printed in every failure.</summary>
    public int Seed { get; init; }
    /// <summary>What cuFuncSetAttribute would raise the dynamic shared-memory limit to.</summary>
    public int MaxDynamicSharedBytes { get; init; } = 48 * 1024;
    /// <summary>The device's shared memory per block (sm_90 227 KB, sm_80 163 KB).</summary>
    public int SharedMemoryLimit { get; init; } = 227 * 1024;
    /// <summary>Races, uninitialised reads and ld.global.nc checks (bounds and alignment are always checked).</summary>
    public bool Checks { get; init; } = true;
    /// <summary>Backward branches allowed per launch before it is reported as a hang.</summary>
    public long MaxThreadInstructions { get; init; } = 50_000_000_000;
}
