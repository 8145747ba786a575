namespace PiSa.Ptx;

/// <summary>Base of every error the PTX interpreter reports.</summary>
public class PtxException : Exception
{
    public PtxException(string message) : base(message) { }
    public PtxException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>PTX text the parser does not understand, with the line it stopped on.</summary>
public sealed class PtxParseException : PtxException
{
    public string SourceName { get; }
    public int Line { get; }
    public string LineText { get; }

    public PtxParseException(string sourceName, int line, string lineText, string reason)
        : base($"{sourceName}:{line}: {reason}: '{lineText.Trim()}'")
    {
        SourceName = sourceName;
        Line = line;
        LineText = lineText;
    }
}

/// <summary>A launch the device would refuse (bad configuration, bad arguments).</summary>
public sealed class PtxLaunchException : PtxException
{
    public PtxLaunchException(string message) : base(message) { }
}

/// <summary>Device memory exhausted (Alloc beyond the capacity given to PtxMemory).</summary>
public sealed class PtxOutOfMemoryException : PtxException
{
    public PtxOutOfMemoryException(string message) : base(message) { }
}

/// <summary>What a check found, with where it happened.</summary>
public enum PtxCheckKind
{
    OutOfBounds,
    Misaligned,
    UninitialisedShared,
    UninitialisedGlobal,
    SharedRace,
    BarrierDivergence,
    Deadlock,
    InactiveLane,
    NonCoherentRead,
    UseAfterFree,
    InvalidInstruction,
    /// <summary>An asynchronous-operation protocol broken (wgmma fence, wait, proxy fence, in-flight registers).</summary>
    AsyncProtocol,
}

/// <summary>
/// A check failed while a kernel ran: the message names the kernel, block, thread, PTX line (and the .loc source line
/// when the module has line info), the address and buffer label where one is involved, and the scheduling seed.
/// </summary>
public sealed class PtxCheckException : PtxException
{
    public PtxCheckKind Kind { get; }
    public string Kernel { get; }
    public PtxDim3 Block { get; }
    public PtxDim3 Thread { get; }
    public int PtxLine { get; }
    public string? SourceLocation { get; }
    public ulong? Address { get; }
    public string? BufferLabel { get; }
    public int Seed { get; }

    public PtxCheckException(PtxCheckKind kind, string detail, string kernel, PtxDim3 block, PtxDim3 thread,
        int ptxLine, string? sourceLocation, ulong? address, string? bufferLabel, int seed)
        : base(Format(kind, detail, kernel, block, thread, ptxLine, sourceLocation, address, bufferLabel, seed))
    {
        Kind = kind;
        Kernel = kernel;
        Block = block;
        Thread = thread;
        PtxLine = ptxLine;
        SourceLocation = sourceLocation;
        Address = address;
        BufferLabel = bufferLabel;
        Seed = seed;
    }

    static string Format(PtxCheckKind kind, string detail, string kernel, PtxDim3 block, PtxDim3 thread,
        int ptxLine, string? sourceLocation, ulong? address, string? bufferLabel, int seed)
    {
        var s = $"{kind}: {detail} in kernel {kernel}, block ({block.X},{block.Y},{block.Z}), thread ({thread.X},{thread.Y},{thread.Z}), PTX line {ptxLine}";
        if (sourceLocation != null) s += $" ({sourceLocation})";
        if (address != null) s += $", address 0x{address.Value:x}";
        if (bufferLabel != null) s += $" in buffer '{bufferLabel}'";
        return s + $", seed {seed}";
    }
}
