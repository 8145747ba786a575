namespace PiSa.Ptx;

/// <summary>One .ptx text, parsed and decoded once into the interpreter's compact instruction form.</summary>
public sealed class PtxModule
{
    public string Name { get; }
    public IReadOnlyList<PtxKernel> Kernels { get; }
    /// <summary>Every instruction form in the module (opcode with all its modifiers), for the census.</summary>
    public IReadOnlySet<string> InstructionForms { get; }

    internal PtxModule(string name, IReadOnlyList<PtxKernel> kernels, IReadOnlySet<string> forms)
    {
        Name = name;
        Kernels = kernels;
        InstructionForms = forms;
    }

    /// <summary>Parses and decodes; <see cref="PtxParseException"/> (line, text) on anything not understood.</summary>
    public static PtxModule Parse(string ptxText, string sourceName) => PtxParser.Parse(ptxText, sourceName);

    /// <summary>The kernel of that name; <see cref="PtxException"/> naming the module and its kernels otherwise.</summary>
    public PtxKernel GetKernel(string name)
    {
        foreach (var k in Kernels)
            if (k.Name == name)
                return k;
        throw new PtxException($"PTX module {Name} has no kernel '{name}' (it has: {string.Join(", ", Kernels.Select(k => k.Name))})");
    }
}

/// <summary>An .entry of a module.</summary>
public sealed class PtxKernel
{
    public string Name { get; }
    public IReadOnlyList<PtxParam> Params { get; }
    public int StaticSharedBytes { get; }
    /// <summary>Product of .maxntid, null when the kernel has none.</summary>
    public int? MaxThreadsPerBlock { get; }

    // the decoded form (see PtxDecoder)
    internal Instr[] Code { get; init; } = [];
    internal ulong[] Consts { get; init; } = [];
    internal int[] Vecs { get; init; } = [];
    internal int FrameSize { get; init; }
    internal byte[] SlotBits { get; init; } = [];
    internal string[] Locs { get; init; } = [];
    internal int MemSlots { get; init; }
    internal int DynamicSharedBase { get; init; }
    internal int LocalBytes { get; init; }
    internal int ParamBytes { get; init; }
    internal string SourceName { get; init; } = "";

    /// <summary>"PTX line N (file.cu:L)" for messages.</summary>
    internal string Where(int pc)
    {
        if ((uint)pc >= (uint)Code.Length) return "after the last instruction";
        ref var i = ref Code[pc];
        return i.Loc >= 0 ? $"PTX line {i.Line} ({Locs[i.Loc]})" : $"PTX line {i.Line}";
    }

    internal PtxKernel(string name, IReadOnlyList<PtxParam> ps, int staticShared, int? maxThreads)
    {
        Name = name;
        Params = ps;
        StaticSharedBytes = staticShared;
        MaxThreadsPerBlock = maxThreads;
    }
}
