namespace PiSa.Ptx;

internal sealed partial class PtxDecoder
{
    static PtxType TypeOf(string m) => m switch
    {
        "pred" => PtxType.Pred, "b8" => PtxType.B8, "b16" => PtxType.B16, "b32" => PtxType.B32, "b64" => PtxType.B64,
        "u8" => PtxType.U8, "u16" => PtxType.U16, "u32" => PtxType.U32, "u64" => PtxType.U64,
        "s8" => PtxType.S8, "s16" => PtxType.S16, "s32" => PtxType.S32, "s64" => PtxType.S64,
        "f16" => PtxType.F16, "f16x2" => PtxType.F16x2, "bf16" => PtxType.Bf16, "bf16x2" => PtxType.Bf16x2,
        "f32" => PtxType.F32, "f64" => PtxType.F64,
        _ => PtxType.None,
    };

    internal static int Bits(PtxType t) => t switch
    {
        PtxType.Pred => 1,
        PtxType.B8 or PtxType.U8 or PtxType.S8 => 8,
        PtxType.B16 or PtxType.U16 or PtxType.S16 or PtxType.F16 or PtxType.Bf16 => 16,
        PtxType.B32 or PtxType.U32 or PtxType.S32 or PtxType.F32 or PtxType.F16x2 or PtxType.Bf16x2 => 32,
        PtxType.B64 or PtxType.U64 or PtxType.S64 or PtxType.F64 => 64,
        _ => 0,
    };

    internal static bool IsSigned(PtxType t) => t is PtxType.S8 or PtxType.S16 or PtxType.S32 or PtxType.S64;
    internal static bool IsInt(PtxType t) => t is >= PtxType.B8 and <= PtxType.S64;
    static ulong MaskOf(int bits) => bits >= 64 ? ulong.MaxValue : (1UL << bits) - 1;

    static readonly HashSet<string> Ignored = new(StringComparer.Ordinal)
    {
        // memory-ordering and cache qualifiers: the interpreter runs one thread at a time, so they change nothing
        "weak", "volatile", "relaxed", "acquire", "release", "cta", "gpu", "sys", "cluster", "ca", "cg", "cs", "lu", "cv",
        "wb", "wt", "uni", "aligned", "sync",
    };

    /// <summary>The instruction's type: the last modifier that names one.</summary>
    PtxType LastType(string[] parts)
    {
        for (int i = parts.Length - 1; i >= 1; i--)
            if (TypeOf(parts[i]) is var t && t != PtxType.None) return t;
        throw Error($"instruction {string.Join('.', parts)} has no type");
    }

    void Need(List<string> ops, int n, string form)
    {
        if (ops.Count != n) throw Error($"{form} takes {n} operands, found {ops.Count}");
    }

    void CheckRounding(string[] parts, string form, params string[] allowed)
    {
        foreach (var m in parts.AsSpan(1))
            if (m is "rn" or "rz" or "rm" or "rp" or "rni" or "rzi" or "rmi" or "rpi" or "rna" && Array.IndexOf(allowed, m) < 0)
                throw Error($"rounding .{m} of {form} is not implemented");
    }

    byte FloatFlags(string[] parts)
    {
        byte f = 0;
        foreach (var m in parts.AsSpan(1))
        {
            if (m == "ftz") f |= Fl.Ftz;
            else if (m == "sat") f |= Fl.Sat;
            else if (m == "approx" || m == "full") f |= Fl.Approx;
            else if (m == "NaN") f |= Fl.NaN;
        }
        return f;
    }

    void Instruction(string form, string[] parts, List<string> ops)
    {
        string b = parts[0];
        bool Has(string m) => Array.IndexOf(parts, m, 1) >= 0;
        switch (b)
        {
            case "mov":
            {
                Need(ops, 2, form);
                var t = LastType(parts);
                int w = Bits(t);
                if (ops[0].StartsWith('{'))
                {
                    var d = Vector(ops[0], true);
                    Emit(new Instr { Op = Op.MovUnpack, Class = InstrClass.Integer, W = (byte)(w / d.Count), Mask = MaskOf(w / d.Count),
                        A = Src(ops[1], t), Vec = AddVec(d), VecN = d.Count });
                }
                else if (ops[1].StartsWith('{'))
                {
                    var s = Vector(ops[1], false);
                    Emit(new Instr { Op = Op.MovPack, Class = InstrClass.Integer, W = (byte)(w / s.Count), Mask = MaskOf(w),
                        D = Dst(ops[0]), Vec = AddVec(s), VecN = s.Count });
                }
                else
                    Emit(new Instr { Op = Op.Mov, Class = InstrClass.Integer, W = (byte)w, Mask = MaskOf(w), T = t,
                        D = Dst(ops[0]), A = Src(ops[1], t) });
                return;
            }
            case "add" or "sub" or "mul" or "mad" or "fma" or "div" or "rem" or "min" or "max":
                Arith(form, parts, ops, b);
                return;
            case "abs" or "neg":
            {
                Need(ops, 2, form);
                var t = LastType(parts);
                Op op = t switch
                {
                    PtxType.F32 => b == "abs" ? Op.AbsF : Op.NegF,
                    PtxType.F64 => b == "abs" ? Op.AbsD : Op.NegD,
                    _ when IsInt(t) => b == "abs" ? Op.AbsS : Op.Neg,
                    _ => throw Error($"{form} is not implemented"),
                };
                Unary(op, t, ops, t is PtxType.F32 or PtxType.F64 ? InstrClass.Fp32 : InstrClass.Integer, FloatFlags(parts));
                return;
            }
            case "and" or "or" or "xor":
            {
                Need(ops, 3, form);
                var t = LastType(parts);
                Binary(b == "and" ? Op.And : b == "or" ? Op.Or : Op.Xor, t, ops, InstrClass.Integer);
                return;
            }
            case "not" or "cnot":
            {
                Need(ops, 2, form);
                var t = LastType(parts);
                Unary(b == "not" ? Op.Not : Op.CNot, t, ops, InstrClass.Integer, 0);
                return;
            }
            case "shl" or "shr":
            {
                Need(ops, 3, form);
                var t = LastType(parts);
                int w = Bits(t);
                Emit(new Instr { Op = b == "shl" ? Op.Shl : IsSigned(t) ? Op.ShrS : Op.ShrU, Class = InstrClass.Integer,
                    W = (byte)w, Mask = MaskOf(w), T = t, D = Dst(ops[0]), A = Src(ops[1], t), B = Src(ops[2], PtxType.U32) });
                return;
            }
            case "popc" or "clz" or "brev":
            {
                Need(ops, 2, form);
                var t = LastType(parts);
                int w = Bits(t);
                Emit(new Instr { Op = b == "popc" ? Op.Popc : b == "clz" ? Op.Clz : Op.Brev, Class = InstrClass.Integer,
                    W = (byte)w, Mask = MaskOf(w), T = t, D = Dst(ops[0]), A = Src(ops[1], t) });
                return;
            }
            case "bfe":
            {
                Need(ops, 4, form);
                var t = LastType(parts);
                int w = Bits(t);
                Emit(new Instr { Op = IsSigned(t) ? Op.BfeS : Op.BfeU, Class = InstrClass.Integer, W = (byte)w, Mask = MaskOf(w),
                    T = t, D = Dst(ops[0]), A = Src(ops[1], t), B = Src(ops[2], PtxType.U32), C = Src(ops[3], PtxType.U32) });
                return;
            }
            case "bfi":
            {
                Need(ops, 5, form);
                var t = LastType(parts);
                int w = Bits(t);
                Emit(new Instr { Op = Op.Bfi, Class = InstrClass.Integer, W = (byte)w, Mask = MaskOf(w), T = t, D = Dst(ops[0]),
                    A = Src(ops[1], t), B = Src(ops[2], t), C = Src(ops[3], PtxType.U32), E = Src(ops[4], PtxType.U32) });
                return;
            }
            case "prmt":
            {
                Need(ops, 4, form);
                if (parts.Length != 2) throw Error($"{form}: only the default prmt mode is implemented");
                Emit(new Instr { Op = Op.Prmt, Class = InstrClass.Integer, W = 32, Mask = MaskOf(32), D = Dst(ops[0]),
                    A = Src(ops[1], PtxType.B32), B = Src(ops[2], PtxType.B32), C = Src(ops[3], PtxType.B32) });
                return;
            }
            case "lop3":
            {
                Need(ops, 5, form);
                Emit(new Instr { Op = Op.Lop3, Class = InstrClass.Integer, W = 32, Mask = MaskOf(32), D = Dst(ops[0]),
                    A = Src(ops[1], PtxType.B32), B = Src(ops[2], PtxType.B32), C = Src(ops[3], PtxType.B32),
                    E = Src(ops[4], PtxType.B32) });
                return;
            }
            case "shf":
            {
                Need(ops, 4, form);
                Emit(new Instr { Op = Has("l") ? Op.ShfL : Op.ShfR, Class = InstrClass.Integer, W = 32, Mask = MaskOf(32),
                    Mode = (byte)(Has("clamp") ? 1 : 0), D = Dst(ops[0]), A = Src(ops[1], PtxType.B32),
                    B = Src(ops[2], PtxType.B32), C = Src(ops[3], PtxType.U32) });
                return;
            }
            case "setp":
                Setp(form, parts, ops);
                return;
            case "selp":
            {
                Need(ops, 4, form);
                var t = LastType(parts);
                int w = Bits(t);
                Emit(new Instr { Op = Op.Selp, Class = InstrClass.Integer, W = (byte)w, Mask = MaskOf(w), T = t, D = Dst(ops[0]),
                    A = Src(ops[1], t), B = Src(ops[2], t), C = Src(ops[3], PtxType.Pred) });
                return;
            }
            case "slct":
            {
                Need(ops, 4, form);
                var t = TypeOf(parts[^2]);
                var ct = TypeOf(parts[^1]);
                int w = Bits(t);
                Emit(new Instr { Op = ct == PtxType.F32 ? Op.SlctF : Op.SlctS, Class = InstrClass.Integer, W = (byte)w,
                    Mask = MaskOf(w), T = t, T2 = ct, Flags = FloatFlags(parts), D = Dst(ops[0]), A = Src(ops[1], t),
                    B = Src(ops[2], t), C = Src(ops[3], ct) });
                return;
            }
            case "sqrt" or "rsqrt" or "rcp" or "ex2" or "lg2" or "sin" or "cos" or "tanh":
            {
                Need(ops, 2, form);
                var t = LastType(parts);
                byte fl = FloatFlags(parts);
                Op op;
                if (t == PtxType.F32)
                {
                    op = b switch
                    {
                        "sqrt" => Op.SqrtF, "rsqrt" => Op.RsqrtF, "rcp" => Op.RcpF, "ex2" => Op.Ex2F, "lg2" => Op.Lg2F,
                        "sin" => Op.SinF, "cos" => Op.CosF, _ => Op.TanhF,
                    };
                    if (b is "rsqrt" or "ex2" or "lg2" or "sin" or "cos" or "tanh" && (fl & Fl.Approx) == 0)
                        throw Error($"{form}: only the .approx form exists");
                    CheckRounding(parts, form, "rn");
                }
                else if (t == PtxType.F64 && b is "sqrt" or "rcp")
                {
                    op = b == "sqrt" ? Op.SqrtD : Op.RcpD;
                    CheckRounding(parts, form, "rn");
                }
                else throw Error($"{form} is not implemented");
                Unary(op, t, ops, InstrClass.Fp32, fl);
                return;
            }
            case "cvt":
                Cvt(form, parts, ops);
                return;
            case "cvta":
            {
                Need(ops, 2, form);
                bool to = Has("to");
                Op op = Has("global") ? Op.CvtaToGlobal
                    : Has("shared") ? (to ? Op.CvtaToShared : Op.CvtaShared)
                    : Has("local") ? (to ? Op.CvtaToLocal : Op.CvtaLocal)
                    : throw Error($"{form} is not implemented");
                var t = LastType(parts);
                Emit(new Instr { Op = op, Class = InstrClass.Integer, W = (byte)Bits(t), Mask = MaskOf(Bits(t)), D = Dst(ops[0]),
                    A = Src(ops[1], t) });
                return;
            }
            case "ld" or "st" or "ldu":
                LoadStore(form, parts, ops, b != "st");
                return;
            case "atom" or "red":
                Atomic(form, parts, ops, b == "atom");
                return;
            case "cp":
                CpAsync(form, parts, ops);
                return;
            case "bra":
            {
                Need(ops, 1, form);
                _fixups.Add((_code.Count, ops[0], _line));
                Emit(new Instr { Op = Op.Bra, Class = InstrClass.Control });
                return;
            }
            case "ret" or "exit":
                Emit(new Instr { Op = Op.Ret, Class = InstrClass.Control });
                return;
            case "trap":
                Emit(new Instr { Op = Op.Trap, Class = InstrClass.Control });
                return;
            case "fence" when parts.Length >= 3 && parts[1] == "proxy" && parts[2] == "async" &&
                              !parts.Skip(3).Any(m => m.StartsWith("global", StringComparison.Ordinal)):
                // generic -> async proxy ordering of shared memory (what wgmma reads); other fences change nothing here
                Emit(new Instr { Op = Op.FenceProxyAsync, Class = InstrClass.Memory });
                return;
            case "wgmma":
                Wgmma(form, parts, ops);
                return;
            case "membar" or "fence" or "prefetch" or "prefetchu":
                Emit(new Instr { Op = Op.Nop, Class = InstrClass.Control });
                return;
            case "bar" or "barrier":
            {
                if (Has("warp"))
                {
                    Need(ops, 1, form);
                    Emit(new Instr { Op = Op.WarpSync, Class = InstrClass.Collective, A = Src(ops[0], PtxType.B32) });
                    return;
                }
                if (!(Has("sync") || parts.Length == 1 || (parts.Length == 2 && parts[1] == "cta")) || Has("arrive") || Has("red"))
                    throw Error($"{form} is not implemented (only bar.sync / barrier.sync)");
                if (ops.Count is < 1 or > 2) throw Error($"{form} takes 1 or 2 operands");
                var ins = new Instr { Op = Op.BarSync, Class = InstrClass.Collective, A = Src(ops[0], PtxType.U32) };
                if (ops.Count == 2) { ins.B = Src(ops[1], PtxType.U32); ins.Flags = Fl.HasC; }
                Emit(ins);
                return;
            }
            case "shfl":
            {
                if (!Has("sync")) throw Error($"{form}: only shfl.sync is supported (sm_70+)");
                Need(ops, 5, form);
                byte mode = Has("up") ? (byte)0 : Has("down") ? (byte)1 : Has("bfly") ? (byte)2 : Has("idx") ? (byte)3
                    : throw Error($"{form}: unknown shfl mode");
                var (d, p) = DestPair(ops[0]);
                Emit(new Instr { Op = Op.Shfl, Class = InstrClass.Collective, Mode = mode, W = 32, Mask = MaskOf(32),
                    D = d, D2 = p, A = Src(ops[1], PtxType.B32), B = Src(ops[2], PtxType.B32), C = Src(ops[3], PtxType.B32),
                    E = Src(ops[4], PtxType.B32) });
                return;
            }
            case "vote":
            {
                if (!Has("sync")) throw Error($"{form}: only vote.sync is supported (sm_70+)");
                Need(ops, 3, form);
                byte mode = Has("all") ? (byte)0 : Has("any") ? (byte)1 : Has("uni") ? (byte)2 : Has("ballot") ? (byte)3
                    : throw Error($"{form}: unknown vote mode");
                Emit(new Instr { Op = Op.Vote, Class = InstrClass.Collective, Mode = mode, D = Dst(ops[0]),
                    A = Src(ops[1], PtxType.Pred), E = Src(ops[2], PtxType.B32) });
                return;
            }
            case "mma":
                Mma(form, parts, ops);
                return;
            case "ldmatrix":
            {
                Need(ops, 2, form);
                if (!Has("m8n8") || !Has("b16")) throw Error($"{form}: only ldmatrix .m8n8 .b16 is implemented");
                int n = Has("x1") ? 1 : Has("x2") ? 2 : Has("x4") ? 4 : throw Error($"{form}: missing .x1/.x2/.x4");
                var d = Vector(ops[0].StartsWith('{') ? ops[0] : "{" + ops[0] + "}", true);
                if (d.Count != n) throw Error($"{form} needs {n} destination registers");
                var (ab, off) = Address(ops[1]);
                bool generic = !parts.Any(m => m.StartsWith("shared", StringComparison.Ordinal));
                Emit(new Instr { Op = Op.Ldmatrix, Class = InstrClass.Collective, Flags = (byte)((Has("trans") ? Fl.Trans : 0) | (generic ? Fl.HasC : 0)),
                    A = ab, Imm = off, Vec = AddVec(d), VecN = n, Slot = _memSlots++ });
                return;
            }
        }
        throw Error($"instruction {form} is not implemented by the interpreter");
    }

    (int D, int P) DestPair(string tok)
    {
        int bar = tok.IndexOf('|');
        if (bar < 0) return (Dst(tok), -1);
        return (Dst(tok[..bar].Trim()), Dst(tok[(bar + 1)..].Trim()));
    }

    void Binary(Op op, PtxType t, List<string> ops, InstrClass cls, byte flags = 0)
    {
        int w = Bits(t);
        Emit(new Instr { Op = op, Class = cls, W = (byte)w, Mask = MaskOf(w), T = t, Flags = flags, D = Dst(ops[0]),
            A = Src(ops[1], t), B = Src(ops[2], t) });
    }

    void Unary(Op op, PtxType t, List<string> ops, InstrClass cls, byte flags)
    {
        int w = Bits(t);
        Emit(new Instr { Op = op, Class = cls, W = (byte)w, Mask = MaskOf(w), T = t, Flags = flags, D = Dst(ops[0]),
            A = Src(ops[1], t) });
    }

    void Arith(string form, string[] parts, List<string> ops, string b)
    {
        var t = LastType(parts);
        bool Has(string m) => Array.IndexOf(parts, m, 1) >= 0;
        if (Has("cc") || b is "addc" or "subc") throw Error($"{form}: carry chains are not implemented");
        if (t is PtxType.F32 or PtxType.F64)
        {
            bool f32 = t == PtxType.F32;
            byte fl = FloatFlags(parts);
            switch (b)
            {
                case "add" or "sub" or "mul":
                    Need(ops, 3, form);
                    CheckRounding(parts, form, "rn");
                    Binary(b == "add" ? (f32 ? Op.AddF : Op.AddD) : b == "sub" ? (f32 ? Op.SubF : Op.SubD) : (f32 ? Op.MulF : Op.MulD),
                        t, ops, InstrClass.Fp32, fl);
                    return;
                case "fma" or "mad":
                {
                    Need(ops, 4, form);
                    CheckRounding(parts, form, "rn");
                    int w = Bits(t);
                    Emit(new Instr { Op = f32 ? Op.FmaF : Op.FmaD, Class = InstrClass.Fp32, W = (byte)w, Mask = MaskOf(w), T = t,
                        Flags = fl, D = Dst(ops[0]), A = Src(ops[1], t), B = Src(ops[2], t), C = Src(ops[3], t) });
                    return;
                }
                case "div":
                    Need(ops, 3, form);
                    CheckRounding(parts, form, "rn");
                    if (!f32) { Binary(Op.DivD, t, ops, InstrClass.Fp32, fl); return; }
                    Binary((fl & Fl.Approx) != 0 ? Op.DivApproxF : Op.DivRnF, t, ops, InstrClass.Fp32, fl);
                    return;
                case "min" or "max":
                    Need(ops, 3, form);
                    Binary(b == "min" ? (f32 ? Op.MinF : Op.MinD) : (f32 ? Op.MaxF : Op.MaxD), t, ops, InstrClass.Fp32, fl);
                    return;
            }
            throw Error($"{form} is not implemented");
        }
        if (!IsInt(t)) throw Error($"{form} is not implemented (half-precision arithmetic)");
        if (Has("sat")) throw Error($"{form}: saturating integer arithmetic is not implemented");
        bool s = IsSigned(t);
        int wd = Bits(t);
        switch (b)
        {
            case "add": Need(ops, 3, form); Binary(Op.Add, t, ops, InstrClass.Integer); return;
            case "sub": Need(ops, 3, form); Binary(Op.Sub, t, ops, InstrClass.Integer); return;
            case "div": Need(ops, 3, form); Binary(s ? Op.DivS : Op.DivU, t, ops, InstrClass.Integer); return;
            case "rem": Need(ops, 3, form); Binary(s ? Op.RemS : Op.RemU, t, ops, InstrClass.Integer); return;
            case "min": Need(ops, 3, form); Binary(s ? Op.MinS : Op.MinU, t, ops, InstrClass.Integer); return;
            case "max": Need(ops, 3, form); Binary(s ? Op.MaxS : Op.MaxU, t, ops, InstrClass.Integer); return;
            case "mul":
            {
                Need(ops, 3, form);
                Op op = Has("hi") ? (s ? Op.MulHiS : Op.MulHiU) : Has("wide") ? (s ? Op.MulWideS : Op.MulWideU)
                    : Has("lo") ? Op.MulLo : throw Error($"{form}: integer mul needs .lo, .hi or .wide");
                Binary(op, t, ops, InstrClass.Integer);
                if (op is Op.MulWideS or Op.MulWideU) FixWide(wd);
                return;
            }
            case "mad":
            {
                Need(ops, 4, form);
                Op op = Has("hi") ? (s ? Op.MadHiS : Op.MadHiU) : Has("wide") ? (s ? Op.MadWideS : Op.MadWideU)
                    : Has("lo") ? Op.MadLo : throw Error($"{form}: integer mad needs .lo, .hi or .wide");
                bool wide = op is Op.MadWideS or Op.MadWideU;
                var ct = wide ? (s ? PtxType.S64 : PtxType.U64) : t;
                Emit(new Instr { Op = op, Class = InstrClass.Integer, W = (byte)wd, Mask = MaskOf(wide ? 2 * wd : wd), T = t,
                    D = Dst(ops[0]), A = Src(ops[1], t), B = Src(ops[2], t), C = Src(ops[3], ct) });
                return;
            }
        }
        throw Error($"{form} is not implemented");
    }

    /// <summary>mul.wide writes twice the operand width.</summary>
    void FixWide(int w)
    {
        var i = _code[^1];
        i.Mask = MaskOf(2 * w);
        _code[^1] = i;
    }

    void Setp(string form, string[] parts, List<string> ops)
    {
        var t = LastType(parts);
        if (parts.Length < 3) throw Error($"{form}: missing comparison");
        byte cmp = parts[1] switch
        {
            "eq" => Cmp.Eq, "ne" => Cmp.Ne, "lt" or "lo" => Cmp.Lt, "le" or "ls" => Cmp.Le, "gt" or "hi" => Cmp.Gt,
            "ge" or "hs" => Cmp.Ge, "equ" => Cmp.Equ, "neu" => Cmp.Neu, "ltu" => Cmp.Ltu, "leu" => Cmp.Leu,
            "gtu" => Cmp.Gtu, "geu" => Cmp.Geu, "num" => Cmp.Num, "nan" => Cmp.Nan,
            _ => throw Error($"{form}: unknown comparison .{parts[1]}"),
        };
        byte boolOp = parts.Length > 3 ? parts[2] switch
        {
            "and" => Cmp.BoolAnd, "or" => Cmp.BoolOr, "xor" => Cmp.BoolXor, _ => Cmp.BoolNone,
        } : Cmp.BoolNone;
        if (boolOp != Cmp.BoolNone ? ops.Count != 4 : ops.Count != 3) throw Error($"{form}: wrong operand count");
        Op op = t switch
        {
            PtxType.F32 => Op.SetpF32,
            PtxType.F64 => Op.SetpF64,
            _ when IsSigned(t) => Op.SetpS,
            _ when IsInt(t) => Op.SetpU,
            _ => throw Error($"{form} is not implemented"),
        };
        if (IsInt(t) && cmp >= Cmp.Equ) throw Error($"{form}: unordered comparison of integers");
        var (d, q) = DestPair(ops[0]);
        int w = Bits(t);
        var ins = new Instr { Op = op, Class = t is PtxType.F32 or PtxType.F64 ? InstrClass.Fp32 : InstrClass.Integer,
            W = (byte)w, Mask = MaskOf(w), T = t, Mode = (byte)(cmp | (boolOp << 4)), Flags = FloatFlags(parts),
            D = d, D2 = q, A = Src(ops[1], t), B = Src(ops[2], t) };
        if (boolOp != Cmp.BoolNone) ins.C = Src(ops[3], PtxType.Pred);
        Emit(ins);
    }

    void Cvt(string form, string[] parts, List<string> ops)
    {
        var types = parts.Skip(1).Select(TypeOf).Where(x => x != PtxType.None).ToArray();
        if (types.Length != 2) throw Error($"{form}: needs a destination and a source type");
        var (dt, st) = (types[0], types[1]);
        byte rnd = Rnd.None;
        foreach (var m in parts.AsSpan(1))
            rnd = m switch
            {
                "rn" => Rnd.Rn, "rz" => Rnd.Rz, "rm" => Rnd.Rm, "rp" => Rnd.Rp, "rni" => Rnd.Rni, "rzi" => Rnd.Rzi,
                "rmi" => Rnd.Rmi, "rpi" => Rnd.Rpi, "rna" => Rnd.Rna, _ => rnd,
            };
        byte fl = FloatFlags(parts);
        if (parts.Contains("relu")) throw Error($"{form}: .relu is not implemented");
        int w = Bits(dt);
        if (dt is PtxType.F16x2 or PtxType.Bf16x2)
        {
            Need(ops, 3, form);
            if (st != PtxType.F32 || rnd != Rnd.Rn) throw Error($"{form} is not implemented");
            Emit(new Instr { Op = dt == PtxType.F16x2 ? Op.CvtPackF16x2 : Op.CvtPackBf16x2, Class = InstrClass.Conversion,
                W = 32, Mask = MaskOf(32), T = dt, T2 = st, Flags = fl, D = Dst(ops[0]), A = Src(ops[1], st), B = Src(ops[2], st) });
            return;
        }
        Need(ops, 2, form);
        bool dInt = IsInt(dt), sInt = IsInt(st);
        bool dFloat = dt is PtxType.F16 or PtxType.Bf16 or PtxType.F32 or PtxType.F64;
        bool sFloat = st is PtxType.F16 or PtxType.Bf16 or PtxType.F32 or PtxType.F64;
        if (!(dInt || dFloat) || !(sInt || sFloat)) throw Error($"{form} is not implemented");
        // PTX requires a rounding mode exactly where the conversion can be inexact
        if (dFloat && sFloat && Bits(dt) < Bits(st) && rnd is not (Rnd.Rn or Rnd.Rz or Rnd.Rm or Rnd.Rp or Rnd.Rna))
            throw Error($"{form}: a narrowing float conversion needs .rn/.rz/.rm/.rp");
        if (dInt && sFloat && rnd is not (Rnd.Rni or Rnd.Rzi or Rnd.Rmi or Rnd.Rpi))
            throw Error($"{form}: float-to-integer conversion needs .rni/.rzi/.rmi/.rpi");
        Op op = Op.Cvt;
        if (dInt && sInt) op = Op.CvtIntInt;
        else if (dt == PtxType.F32 && st == PtxType.F16 && (fl & Fl.Sat) == 0) op = Op.CvtF32F16;
        else if (dt == PtxType.F16 && st == PtxType.F32 && rnd == Rnd.Rn && (fl & Fl.Sat) == 0) op = Op.CvtF16F32;
        else if (dt == PtxType.F32 && st == PtxType.Bf16 && (fl & Fl.Sat) == 0) op = Op.CvtF32Bf16;
        else if (dt == PtxType.Bf16 && st == PtxType.F32 && rnd == Rnd.Rn && (fl & Fl.Sat) == 0) op = Op.CvtBf16F32;
        else if ((dt is PtxType.F16 or PtxType.Bf16 || st is PtxType.F16 or PtxType.Bf16) && rnd is not (Rnd.Rn or Rnd.None or Rnd.Rni or Rnd.Rzi or Rnd.Rmi or Rnd.Rpi))
            throw Error($"{form}: directed rounding to/from half precision is not implemented");
        else if (rnd is Rnd.Rz or Rnd.Rm or Rnd.Rp or Rnd.Rna)
            throw Error($"{form}: rounding mode not implemented");
        Emit(new Instr { Op = op, Class = InstrClass.Conversion, W = (byte)w, Mask = MaskOf(w), T = dt, T2 = st, Mode = rnd,
            Flags = fl, D = Dst(ops[0]), A = Src(ops[1], st) });
    }

    enum Space { Generic, Global, Shared, Param, Local }

    Space SpaceOf(string[] parts, string form)
    {
        Space sp = Space.Generic;
        foreach (var m in parts.AsSpan(1))
        {
            if (m == "global") sp = Space.Global;
            else if (m.StartsWith("shared", StringComparison.Ordinal)) sp = Space.Shared;
            else if (m == "param") sp = Space.Param;
            else if (m == "local") sp = Space.Local;
            else if (m == "const") throw Error($"{form}: the .const space is not supported");
        }
        return sp;
    }

    void LoadStore(string form, string[] parts, List<string> ops, bool load)
    {
        Need(ops, 2, form);
        var sp = SpaceOf(parts, form);
        var t = LastType(parts);
        int vn = 1;
        foreach (var m in parts.AsSpan(1))
        {
            if (m == "v2") vn = 2;
            else if (m == "v4") vn = 4;
            else if (m == "v8") throw Error($"{form}: .v8 is not implemented");
        }
        bool nc = parts.Contains("nc") || parts[0] == "ldu";
        if (nc && sp != Space.Global) throw Error($"{form}: .nc outside .global");
        int w = Bits(t);
        if (t == PtxType.Pred || w == 0) throw Error($"{form}: bad type");
        var ins = new Instr { Class = InstrClass.Memory, W = (byte)w, Mask = MaskOf(w), T = t, Flags = nc ? Fl.Nc : (byte)0 };
        string val = load ? ops[0] : ops[1];
        var (ab, off) = Address(load ? ops[1] : ops[0]);
        ins.A = ab;
        ins.Imm = off;
        if (val.StartsWith('{'))
        {
            var v = Vector(val, load);
            if (v.Count != vn) throw Error($"{form}: {vn} registers expected");
            ins.Vec = AddVec(v);
            ins.VecN = vn;
        }
        else
        {
            if (vn != 1) throw Error($"{form}: vector operand expected");
            ins.Vec = AddVec([load ? Dst(val) : Src(val, t)]);
            ins.VecN = 1;
        }
        if (load)
        {
            ins.Op = sp switch { Space.Global => Op.LdGlobal, Space.Shared => Op.LdShared, Space.Param => Op.LdParam,
                Space.Local => Op.LdLocal, _ => Op.LdGeneric };
            // sign extension of a narrow signed load goes up to the destination register's width
            int db = _slotBits[_vecs[ins.Vec]] is var rb && rb > w ? rb : w;
            ins.E = db;
        }
        else
        {
            if (sp == Space.Param) throw Error($"{form}: stores to .param are not supported");
            ins.Op = sp switch { Space.Global => Op.StGlobal, Space.Shared => Op.StShared, Space.Local => Op.StLocal, _ => Op.StGeneric };
        }
        if (ins.Op == Op.LdParam && ab != Const(0)) throw Error($"{form}: .param address must be a parameter name");
        if (sp is Space.Global or Space.Shared or Space.Generic) ins.Slot = _memSlots++;
        Emit(ins);
    }

    void Atomic(string form, string[] parts, List<string> ops, bool hasDest)
    {
        var sp = SpaceOf(parts, form);
        var t = LastType(parts);
        byte op = 255;
        foreach (var m in parts.AsSpan(1))
            op = m switch
            {
                "add" => AtomOp.Add, "min" => AtomOp.Min, "max" => AtomOp.Max, "exch" => AtomOp.Exch, "cas" => AtomOp.Cas,
                "and" => AtomOp.And, "or" => AtomOp.Or, "xor" => AtomOp.Xor, "inc" => AtomOp.Inc, "dec" => AtomOp.Dec, _ => op,
            };
        if (op == 255) throw Error($"{form}: unknown atomic operation");
        if (parts.Any(m => m is "v2" or "v4" or "noftz")) throw Error($"{form} is not implemented");
        if (t is PtxType.F16 or PtxType.F16x2 or PtxType.Bf16 or PtxType.Bf16x2) throw Error($"{form} is not implemented");
        if (t is PtxType.F32 or PtxType.F64 && op is not (AtomOp.Add or AtomOp.Exch or AtomOp.Min or AtomOp.Max))
            throw Error($"{form} is not implemented");
        int n = (hasDest ? 1 : 0) + 2 + (op == AtomOp.Cas ? 1 : 0);
        Need(ops, n, form);
        int k = hasDest ? 1 : 0;
        var (ab, off) = Address(ops[k]);
        int w = Bits(t);
        var ins = new Instr { Op = sp switch { Space.Global => Op.AtomGlobal, Space.Shared => Op.AtomShared, Space.Generic => Op.AtomGeneric,
                _ => throw Error($"{form}: atomics on this space are not supported") },
            Class = InstrClass.Memory, W = (byte)w, Mask = MaskOf(w), T = t, Mode = op,
            D = hasDest ? Dst(ops[0]) : Sink, A = ab, Imm = off, B = Src(ops[k + 1], t), Slot = _memSlots++ };
        if (op == AtomOp.Cas) ins.C = Src(ops[k + 2], t);
        Emit(ins);
    }

    void CpAsync(string form, string[] parts, List<string> ops)
    {
        if (parts.Length < 2 || parts[1] != "async") throw Error($"instruction {form} is not implemented");
        if (parts.Contains("commit_group")) { Emit(new Instr { Op = Op.CpAsyncCommit, Class = InstrClass.Memory }); return; }
        if (parts.Contains("wait_group"))
        {
            Need(ops, 1, form);
            if (!TryImmediate(ops[0], PtxType.U32, out ulong n)) throw Error($"{form}: group count must be an immediate");
            Emit(new Instr { Op = Op.CpAsyncWait, Class = InstrClass.Memory, Imm = (long)n });
            return;
        }
        if (parts.Contains("wait_all")) { Emit(new Instr { Op = Op.CpAsyncWait, Class = InstrClass.Memory, Imm = -1 }); return; }
        if (parts.Any(m => m.StartsWith("mbarrier", StringComparison.Ordinal) || m.StartsWith("bulk", StringComparison.Ordinal)))
            throw Error($"{form} is not implemented");
        if (ops.Count is < 3 or > 5) throw Error($"{form}: wrong operand count");
        var (db, doff) = Address(ops[0]);
        var (sb, soff) = Address(ops[1]);
        if (!TryImmediate(ops[2], PtxType.U32, out ulong size) || size is not (4 or 8 or 16))
            throw Error($"{form}: copy size must be 4, 8 or 16");
        if (parts.Contains("cg") && size != 16) throw Error($"{form}: .cg copies 16 bytes");
        var ins = new Instr { Op = Op.CpAsync, Class = InstrClass.Memory, W = (byte)size, A = db, Imm = doff, B = sb, Imm2 = soff,
            Slot = _memSlots++ };
        // optional src-size (bytes actually read, the rest zero-filled), then an ignored L2 cache policy
        int extra = ops.Count - 3 - (parts.Contains("L2::cache_hint") ? 1 : 0);
        if (extra == 1)
        {
            ins.C = Src(ops[3], PtxType.U32);
            ins.Flags = Fl.HasC;
        }
        else if (extra != 0) throw Error($"{form}: wrong operand count");
        Emit(ins);
    }

    void Mma(string form, string[] parts, List<string> ops)
    {
        Need(ops, 4, form);
        if (!parts.Contains("m16n8k16") || !parts.Contains("row") || !parts.Contains("col"))
            throw Error($"{form}: only mma.sync.aligned.m16n8k16.row.col is implemented");
        var types = parts.Skip(1).Select(TypeOf).Where(x => x != PtxType.None).ToArray();
        if (types.Length != 4 || types[0] != PtxType.F32 || types[3] != PtxType.F32 || types[1] != types[2] ||
            types[1] is not (PtxType.F16 or PtxType.Bf16))
            throw Error($"{form}: only f32 accumulators with f16 or bf16 inputs are implemented");
        if (parts.Contains("satfinite")) throw Error($"{form}: .satfinite is not implemented");
        var d = Vector(ops[0], true);
        var a = Vector(ops[1], false);
        var bv = Vector(ops[2], false);
        var c = Vector(ops[3], false);
        if (d.Count != 4 || a.Count != 4 || bv.Count != 2 || c.Count != 4) throw Error($"{form}: fragment register counts are 4, 4, 2, 4");
        var all = new List<int>(14);
        all.AddRange(d); all.AddRange(a); all.AddRange(bv); all.AddRange(c);
        Emit(new Instr { Op = Op.Mma, Class = InstrClass.Collective, T2 = types[1], Vec = AddVec(all), VecN = 14 });
    }
}
