namespace PiSa.Ptx;

/// <summary>The decoded opcodes: one per operation, with width/type in the instruction's fields.</summary>
internal enum Op : ushort
{
    Nop,
    // data movement
    Mov, MovPack, MovUnpack,
    // integer (W = width in bits; S = signed variant)
    Add, Sub, MulLo, MulHiS, MulHiU, MulWideS, MulWideU, MadLo, MadHiS, MadHiU, MadWideS, MadWideU,
    DivS, DivU, RemS, RemU, MinS, MinU, MaxS, MaxU, AbsS, Neg,
    And, Or, Xor, Not, CNot, Shl, ShrS, ShrU, Popc, Clz, Brev, BfeS, BfeU, Bfi, Prmt, Lop3, ShfL, ShfR,
    SetpS, SetpU, SetpF32, SetpF64, Selp, SlctS, SlctF,
    // fp32
    AddF, SubF, MulF, FmaF, DivRnF, DivApproxF, NegF, AbsF, MinF, MaxF, SqrtF, RsqrtF, RcpF, Ex2F, Lg2F, SinF, CosF, TanhF,
    // fp64
    AddD, SubD, MulD, FmaD, DivD, NegD, AbsD, MinD, MaxD, SqrtD, RcpD,
    // conversions
    CvtF32F16, CvtF16F32, CvtF32Bf16, CvtBf16F32, CvtPackF16x2, CvtPackBf16x2, CvtIntInt, Cvt,
    // memory
    LdParam, LdGlobal, LdShared, LdLocal, LdGeneric, StGlobal, StShared, StLocal, StGeneric,
    CvtaToGlobal, CvtaToShared, CvtaShared, CvtaToLocal, CvtaLocal,
    AtomGlobal, AtomShared, AtomGeneric,
    CpAsync, CpAsyncCommit, CpAsyncWait,
    FenceProxyAsync,   // fence.proxy.async: orders this thread's generic shared writes before async-proxy (wgmma) reads
    // control
    Bra, Ret, Trap,
    // collectives (the thread stops and waits for its partners)
    BarSync, WarpSync, Shfl, Vote, Mma, Ldmatrix,
    // warpgroup collectives (all 128 threads of 4 consecutive warps): wgmma.fence / commit_group / wait_group / mma_async
    WgFence, WgCommit, WgWait, WgMma,
}

/// <summary>Instruction classes of the counters.</summary>
internal enum InstrClass : byte { Integer, Fp32, Conversion, Memory, Control, Collective }

/// <summary>Scalar types as the decoder names them (width in the low bits of the code's table).</summary>
internal enum PtxType : byte
{
    None, Pred, B8, B16, B32, B64, U8, U16, U32, U64, S8, S16, S32, S64, F16, F16x2, Bf16, Bf16x2, F32, F64,
}

/// <summary>
/// One decoded instruction. Operand fields hold a register slot (>= 0) or ~constantIndex (< 0).
/// Kept as a struct in one array so the executor touches no objects per instruction.
/// </summary>
internal struct Instr
{
    public Op Op;
    public InstrClass Class;
    public byte W;          // operation width in bits (8/16/32/64)
    public ulong Mask;      // (1 << W) - 1: every integer result is truncated to it
    public PtxType T;       // the instruction's (destination) type
    public PtxType T2;      // second type (cvt source, slct comparand type)
    public byte Mode;       // comparison / atomic op / rounding / shfl mode / misc
    public byte Flags;      // Fl* bits
    public bool GuardNeg;
    public int Guard;       // predicate slot, -1 when unguarded
    public int D, A, B, C, E;
    public int D2;          // second destination (setp p|q, shfl d|p), -1 when absent
    public long Imm;        // address offset, or extra immediate
    public long Imm2;       // second address offset (cp.async source)
    public int Vec, VecN;   // side-array span of vector registers
    public int Slot;        // memory-counter slot (warp coalescing model)
    public int Line;        // PTX line (1-based)
    public int Loc;         // index into the module's .loc table, -1 when none
}

internal static class Fl
{
    public const byte Ftz = 1, Sat = 2, Nc = 4, Approx = 8, Trans = 16, Cc = 32, HasC = 64, NaN = 128;
}

internal static class Cmp
{
    // setp comparison codes
    public const byte Eq = 0, Ne = 1, Lt = 2, Le = 3, Gt = 4, Ge = 5, Equ = 6, Neu = 7, Ltu = 8, Leu = 9, Gtu = 10,
        Geu = 11, Num = 12, Nan = 13;
    // boolean combination of setp (in the high nibble of Mode)
    public const byte BoolNone = 0, BoolAnd = 1, BoolOr = 2, BoolXor = 3;
}

internal static class AtomOp
{
    public const byte Add = 0, Min = 1, Max = 2, Exch = 3, Cas = 4, And = 5, Or = 6, Xor = 7, Inc = 8, Dec = 9;
}

internal static class Rnd
{
    // cvt rounding modes
    public const byte None = 0, Rn = 1, Rz = 2, Rm = 3, Rp = 4, Rni = 5, Rzi = 6, Rmi = 7, Rpi = 8, Rna = 9;
}
