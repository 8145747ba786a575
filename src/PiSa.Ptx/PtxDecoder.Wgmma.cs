namespace PiSa.Ptx;

/// <summary>
/// The Hopper warpgroup MMA (PTX ISA "Asynchronous Warpgroup Level Matrix Multiply-Accumulate Instructions"):
/// wgmma.fence / commit_group / wait_group and wgmma.mma_async.m64nNk16.f32.{f16.f16|bf16.bf16} with both
/// operands in shared memory (64-bit matrix descriptors). Every other form is refused here, with the line.
/// </summary>
internal sealed partial class PtxDecoder
{
    /// <summary>Mode bits of a decoded wgmma.mma_async.</summary>
    internal static class WgMode
    {
        public const byte NegA = 1, NegB = 2, TransA = 4, TransB = 8;
    }

    void Wgmma(string form, string[] parts, List<string> ops)
    {
        if (parts.Length < 2) throw Error($"instruction {form} is not implemented by the interpreter");
        bool Has(string m) => Array.IndexOf(parts, m, 1) >= 0;
        if (!Has("sync") || !Has("aligned")) throw Error($"{form}: wgmma instructions are .sync.aligned");
        switch (parts[1])
        {
            case "fence":
                Need(ops, 0, form);
                Emit(new Instr { Op = Op.WgFence, Class = InstrClass.Collective });
                return;
            case "commit_group":
                Need(ops, 0, form);
                Emit(new Instr { Op = Op.WgCommit, Class = InstrClass.Collective });
                return;
            case "wait_group":
            {
                Need(ops, 1, form);
                if (!TryImmediate(ops[0], PtxType.U32, out ulong n) || n > 7) throw Error($"{form}: the group count must be an immediate 0..7");
                Emit(new Instr { Op = Op.WgWait, Class = InstrClass.Collective, Imm = (long)n });
                return;
            }
            case "mma_async":
                WgmmaMma(form, parts, ops);
                return;
        }
        throw Error($"{form} is not supported by the interpreter");
    }

    void WgmmaMma(string form, string[] parts, List<string> ops)
    {
        string NotSupported(string what) => $"{form}: {what} is not supported by the interpreter";
        if (Array.IndexOf(parts, "sp", 1) >= 0) throw Error(NotSupported("sparse wgmma (.sp)"));
        if (Array.IndexOf(parts, "satfinite", 1) >= 0) throw Error(NotSupported(".satfinite"));
        string? shape = parts.FirstOrDefault(m => m.StartsWith("m64n", StringComparison.Ordinal) && m.EndsWith("k16", StringComparison.Ordinal));
        if (shape == null || !int.TryParse(shape.AsSpan(4, shape.Length - 7), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out int n) || n < 8 || n > 256 || n % 8 != 0)
            throw Error(NotSupported("a shape other than .m64nNk16 (N = 8, 16, ..., 256)"));
        var types = parts.Skip(1).Select(TypeOf).Where(x => x != PtxType.None).ToArray();
        if (types.Length != 3 || types[0] != PtxType.F32 || types[1] != types[2] || types[1] is not (PtxType.F16 or PtxType.Bf16))
            throw Error(NotSupported("a type other than .f32.f16.f16 or .f32.bf16.bf16"));
        if (ops.Count > 1 && ops[1].StartsWith('{')) throw Error(NotSupported("matrix A in registers"));
        if (ops.Count != 8) throw Error($"{form} takes d, a-desc, b-desc, scale-d, imm-scale-a, imm-scale-b, imm-trans-a, imm-trans-b; found {ops.Count} operands");
        var d = Vector(ops[0], true);
        if (d.Count != n / 2) throw Error($"{form}: the accumulator has {n / 2} .f32 registers, found {d.Count}");
        if (d.Distinct().Count() != d.Count) throw Error($"{form}: an accumulator register appears twice");
        foreach (int s in d)
            if (_slotBits[s] != 32) throw Error($"{form}: the accumulator registers must be 32-bit");
        byte mode = 0;
        long Imm(int k, params long[] allowed)
        {
            if (!TryImmediate(ops[k], PtxType.S32, out ulong v) || Array.IndexOf(allowed, (long)(int)(uint)v) < 0)
                throw Error($"{form}: operand {k + 1} must be an immediate {string.Join(" or ", allowed)}, found '{ops[k]}'");
            return (int)(uint)v;
        }
        if (Imm(4, 1, -1) < 0) mode |= WgMode.NegA;
        if (Imm(5, 1, -1) < 0) mode |= WgMode.NegB;
        if (Imm(6, 0, 1) != 0) mode |= WgMode.TransA;
        if (Imm(7, 0, 1) != 0) mode |= WgMode.TransB;
        Emit(new Instr { Op = Op.WgMma, Class = InstrClass.Collective, T2 = types[1], Mode = mode, Imm = n,
            A = Src(ops[1], PtxType.B64), B = Src(ops[2], PtxType.B64), C = Src(ops[3], PtxType.Pred),
            Vec = AddVec(d), VecN = d.Count });
    }
}
