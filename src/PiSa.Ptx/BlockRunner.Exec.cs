using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static PiSa.Ptx.PtxMath;

namespace PiSa.Ptx;

internal sealed partial class BlockRunner
{
    /// <summary>
    /// Runs thread t from its PC until it reaches a collective (state AtWarp/AtBarrier, PC on the collective)
    /// or exits. The hot loop: registers are one flat ulong frame, operands >= 0 are slots, &lt; 0 constants.
    /// </summary>
    // the interpreter's hot paths: compiled fully optimised at once (short test processes never reach tier 1)
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void Exec(int t)
    {
        var code = _code;
        var consts = _consts;
        var vecs = _vecs;
        ref ulong rf = ref _regs[t * _frame];
        long[] cls = _cls;
        int pc = _pc[t];
        while (true)
        {
            ref Instr i = ref code[pc];
            cls[(int)i.Class]++;
            if (i.Guard >= 0 && (Unsafe.Add(ref rf, i.Guard) != 0) == i.GuardNeg)
            {
                pc++;
                continue;
            }
            switch (i.Op)
            {
                case Op.Nop: break;
                case Op.Mov: Set(ref rf, i.D, R(ref rf, consts, i.A) & i.Mask); break;
                case Op.MovPack:
                {
                    ulong v = 0;
                    ulong em = (1UL << i.W) - 1;
                    for (int k = 0; k < i.VecN; k++) v |= (R(ref rf, consts, vecs[i.Vec + k]) & em) << (k * i.W);
                    Set(ref rf, i.D, v & i.Mask);
                    break;
                }
                case Op.MovUnpack:
                {
                    ulong v = R(ref rf, consts, i.A);
                    for (int k = 0; k < i.VecN; k++) Set(ref rf, vecs[i.Vec + k], (v >> (k * i.W)) & i.Mask);
                    break;
                }
                // ---------------------------------------------------------------- integer
                case Op.Add: Set(ref rf, i.D, (R(ref rf, consts, i.A) + R(ref rf, consts, i.B)) & i.Mask); break;
                case Op.Sub: Set(ref rf, i.D, (R(ref rf, consts, i.A) - R(ref rf, consts, i.B)) & i.Mask); break;
                case Op.MulLo: Set(ref rf, i.D, (R(ref rf, consts, i.A) * R(ref rf, consts, i.B)) & i.Mask); break;
                case Op.MulHiS:
                {
                    Int128 p = (Int128)SignExtend(R(ref rf, consts, i.A), i.W) * SignExtend(R(ref rf, consts, i.B), i.W);
                    Set(ref rf, i.D, (ulong)(p >> i.W) & i.Mask);
                    break;
                }
                case Op.MulHiU:
                {
                    UInt128 p = (UInt128)ZeroExtend(R(ref rf, consts, i.A), i.W) * ZeroExtend(R(ref rf, consts, i.B), i.W);
                    Set(ref rf, i.D, (ulong)(p >> i.W) & i.Mask);
                    break;
                }
                case Op.MulWideS:
                    Set(ref rf, i.D, (ulong)(SignExtend(R(ref rf, consts, i.A), i.W) * SignExtend(R(ref rf, consts, i.B), i.W)) & i.Mask);
                    break;
                case Op.MulWideU:
                    Set(ref rf, i.D, ZeroExtend(R(ref rf, consts, i.A), i.W) * ZeroExtend(R(ref rf, consts, i.B), i.W) & i.Mask);
                    break;
                case Op.MadLo:
                    Set(ref rf, i.D, (R(ref rf, consts, i.A) * R(ref rf, consts, i.B) + R(ref rf, consts, i.C)) & i.Mask);
                    break;
                case Op.MadHiS:
                {
                    Int128 p = (Int128)SignExtend(R(ref rf, consts, i.A), i.W) * SignExtend(R(ref rf, consts, i.B), i.W);
                    Set(ref rf, i.D, ((ulong)(p >> i.W) + R(ref rf, consts, i.C)) & i.Mask);
                    break;
                }
                case Op.MadHiU:
                {
                    UInt128 p = (UInt128)ZeroExtend(R(ref rf, consts, i.A), i.W) * ZeroExtend(R(ref rf, consts, i.B), i.W);
                    Set(ref rf, i.D, ((ulong)(p >> i.W) + R(ref rf, consts, i.C)) & i.Mask);
                    break;
                }
                case Op.MadWideS:
                    Set(ref rf, i.D, ((ulong)(SignExtend(R(ref rf, consts, i.A), i.W) * SignExtend(R(ref rf, consts, i.B), i.W))
                                      + R(ref rf, consts, i.C)) & i.Mask);
                    break;
                case Op.MadWideU:
                    Set(ref rf, i.D, (ZeroExtend(R(ref rf, consts, i.A), i.W) * ZeroExtend(R(ref rf, consts, i.B), i.W)
                                      + R(ref rf, consts, i.C)) & i.Mask);
                    break;
                case Op.DivS:
                {
                    long a = SignExtend(R(ref rf, consts, i.A), i.W), b = SignExtend(R(ref rf, consts, i.B), i.W);
                    // division by zero gives an unspecified value on the GPU, never a trap: all ones here
                    Set(ref rf, i.D, (b == 0 ? ulong.MaxValue : b == -1 ? (ulong)(-a) : (ulong)(a / b)) & i.Mask);
                    break;
                }
                case Op.DivU:
                {
                    ulong a = ZeroExtend(R(ref rf, consts, i.A), i.W), b = ZeroExtend(R(ref rf, consts, i.B), i.W);
                    Set(ref rf, i.D, (b == 0 ? ulong.MaxValue : a / b) & i.Mask);
                    break;
                }
                case Op.RemS:
                {
                    long a = SignExtend(R(ref rf, consts, i.A), i.W), b = SignExtend(R(ref rf, consts, i.B), i.W);
                    Set(ref rf, i.D, (b == 0 ? (ulong)a : b == -1 ? 0UL : (ulong)(a % b)) & i.Mask);
                    break;
                }
                case Op.RemU:
                {
                    ulong a = ZeroExtend(R(ref rf, consts, i.A), i.W), b = ZeroExtend(R(ref rf, consts, i.B), i.W);
                    Set(ref rf, i.D, (b == 0 ? a : a % b) & i.Mask);
                    break;
                }
                case Op.MinS:
                    Set(ref rf, i.D, (ulong)Math.Min(SignExtend(R(ref rf, consts, i.A), i.W), SignExtend(R(ref rf, consts, i.B), i.W)) & i.Mask);
                    break;
                case Op.MaxS:
                    Set(ref rf, i.D, (ulong)Math.Max(SignExtend(R(ref rf, consts, i.A), i.W), SignExtend(R(ref rf, consts, i.B), i.W)) & i.Mask);
                    break;
                case Op.MinU:
                    Set(ref rf, i.D, Math.Min(ZeroExtend(R(ref rf, consts, i.A), i.W), ZeroExtend(R(ref rf, consts, i.B), i.W)));
                    break;
                case Op.MaxU:
                    Set(ref rf, i.D, Math.Max(ZeroExtend(R(ref rf, consts, i.A), i.W), ZeroExtend(R(ref rf, consts, i.B), i.W)));
                    break;
                case Op.AbsS:
                {
                    long a = SignExtend(R(ref rf, consts, i.A), i.W);
                    Set(ref rf, i.D, (ulong)(a < 0 ? -a : a) & i.Mask);
                    break;
                }
                case Op.Neg: Set(ref rf, i.D, (0UL - R(ref rf, consts, i.A)) & i.Mask); break;
                case Op.And: Set(ref rf, i.D, R(ref rf, consts, i.A) & R(ref rf, consts, i.B) & i.Mask); break;
                case Op.Or: Set(ref rf, i.D, (R(ref rf, consts, i.A) | R(ref rf, consts, i.B)) & i.Mask); break;
                case Op.Xor: Set(ref rf, i.D, (R(ref rf, consts, i.A) ^ R(ref rf, consts, i.B)) & i.Mask); break;
                case Op.Not: Set(ref rf, i.D, ~R(ref rf, consts, i.A) & i.Mask); break;
                case Op.CNot: Set(ref rf, i.D, (R(ref rf, consts, i.A) & i.Mask) == 0 ? 1UL : 0UL); break;
                case Op.Shl:
                {
                    ulong n = R(ref rf, consts, i.B) & 0xFFFF_FFFF;
                    Set(ref rf, i.D, n >= i.W ? 0 : (R(ref rf, consts, i.A) << (int)n) & i.Mask);
                    break;
                }
                case Op.ShrU:
                {
                    ulong n = R(ref rf, consts, i.B) & 0xFFFF_FFFF;
                    Set(ref rf, i.D, n >= i.W ? 0 : ZeroExtend(R(ref rf, consts, i.A), i.W) >> (int)n);
                    break;
                }
                case Op.ShrS:
                {
                    ulong n = R(ref rf, consts, i.B) & 0xFFFF_FFFF;
                    long a = SignExtend(R(ref rf, consts, i.A), i.W);
                    Set(ref rf, i.D, (ulong)(a >> (int)Math.Min(n, 63UL)) & i.Mask);
                    break;
                }
                case Op.Popc: Set(ref rf, i.D, (ulong)BitOperations.PopCount(R(ref rf, consts, i.A) & i.Mask)); break;
                case Op.Clz: Set(ref rf, i.D, (ulong)Clz(R(ref rf, consts, i.A), i.W)); break;
                case Op.Brev: Set(ref rf, i.D, Brev(R(ref rf, consts, i.A), i.W)); break;
                case Op.BfeS or Op.BfeU:
                    Set(ref rf, i.D, Bfe(R(ref rf, consts, i.A), (uint)R(ref rf, consts, i.B), (uint)R(ref rf, consts, i.C), i.W, i.Op == Op.BfeS));
                    break;
                case Op.Bfi:
                    Set(ref rf, i.D, Bfi(R(ref rf, consts, i.A), R(ref rf, consts, i.B), (uint)R(ref rf, consts, i.C), (uint)R(ref rf, consts, i.E), i.W));
                    break;
                case Op.Prmt:
                    Set(ref rf, i.D, PtxMath.Prmt((uint)R(ref rf, consts, i.A), (uint)R(ref rf, consts, i.B), (uint)R(ref rf, consts, i.C)));
                    break;
                case Op.Lop3:
                    Set(ref rf, i.D, PtxMath.Lop3((uint)R(ref rf, consts, i.A), (uint)R(ref rf, consts, i.B), (uint)R(ref rf, consts, i.C), (uint)R(ref rf, consts, i.E) & 0xFF));
                    break;
                case Op.ShfL or Op.ShfR:
                {
                    ulong lo = R(ref rf, consts, i.A) & 0xFFFF_FFFF, hi = R(ref rf, consts, i.B) & 0xFFFF_FFFF;
                    uint n = (uint)R(ref rf, consts, i.C);
                    n = i.Mode == 1 ? Math.Min(n, 32u) : n & 31;
                    ulong v = (hi << 32) | lo;
                    Set(ref rf, i.D, i.Op == Op.ShfL ? ((v << (int)n) >> 32) & 0xFFFF_FFFF : (v >> (int)n) & 0xFFFF_FFFF);
                    break;
                }
                case Op.SetpS:
                    SetP(ref rf, consts, ref i, CompareS(SignExtend(R(ref rf, consts, i.A), i.W), SignExtend(R(ref rf, consts, i.B), i.W), i.Mode & 15));
                    break;
                case Op.SetpU:
                    SetP(ref rf, consts, ref i, CompareU(ZeroExtend(R(ref rf, consts, i.A), i.W), ZeroExtend(R(ref rf, consts, i.B), i.W), i.Mode & 15));
                    break;
                case Op.SetpF32:
                {
                    float a = F(R(ref rf, consts, i.A)), b = F(R(ref rf, consts, i.B));
                    if ((i.Flags & Fl.Ftz) != 0) { a = Ftz(a); b = Ftz(b); }
                    SetP(ref rf, consts, ref i, CompareF(a, b, i.Mode & 15));
                    break;
                }
                case Op.SetpF64:
                    SetP(ref rf, consts, ref i, CompareF(D(R(ref rf, consts, i.A)), D(R(ref rf, consts, i.B)), i.Mode & 15));
                    break;
                case Op.Selp:
                    Set(ref rf, i.D, (R(ref rf, consts, i.C) != 0 ? R(ref rf, consts, i.A) : R(ref rf, consts, i.B)) & i.Mask);
                    break;
                case Op.SlctS:
                    Set(ref rf, i.D, ((int)R(ref rf, consts, i.C) >= 0 ? R(ref rf, consts, i.A) : R(ref rf, consts, i.B)) & i.Mask);
                    break;
                case Op.SlctF:
                {
                    float c = F(R(ref rf, consts, i.C));
                    if ((i.Flags & Fl.Ftz) != 0) c = Ftz(c);
                    Set(ref rf, i.D, (c >= 0f ? R(ref rf, consts, i.A) : R(ref rf, consts, i.B)) & i.Mask);
                    break;
                }
                // ---------------------------------------------------------------- fp32
                case Op.AddF: SetF(ref rf, ref i, In(ref rf, consts, ref i, i.A) + In(ref rf, consts, ref i, i.B)); break;
                case Op.SubF: SetF(ref rf, ref i, In(ref rf, consts, ref i, i.A) - In(ref rf, consts, ref i, i.B)); break;
                case Op.MulF: SetF(ref rf, ref i, In(ref rf, consts, ref i, i.A) * In(ref rf, consts, ref i, i.B)); break;
                case Op.FmaF:
                    SetF(ref rf, ref i, MathF.FusedMultiplyAdd(In(ref rf, consts, ref i, i.A), In(ref rf, consts, ref i, i.B), In(ref rf, consts, ref i, i.C)));
                    break;
                case Op.DivRnF: SetF(ref rf, ref i, In(ref rf, consts, ref i, i.A) / In(ref rf, consts, ref i, i.B)); break;
                case Op.DivApproxF:
                {
                    // div.approx/.full: within 2 ulp per the ISA; the correctly rounded quotient is within that bound
                    float a = In(ref rf, consts, ref i, i.A), b = In(ref rf, consts, ref i, i.B);
                    SetF(ref rf, ref i, (float)((double)a / b));
                    break;
                }
                case Op.NegF: SetF(ref rf, ref i, -In(ref rf, consts, ref i, i.A)); break;
                case Op.AbsF: SetF(ref rf, ref i, MathF.Abs(In(ref rf, consts, ref i, i.A))); break;
                case Op.MinF:
                    SetF(ref rf, ref i, PtxMath.Min(In(ref rf, consts, ref i, i.A), In(ref rf, consts, ref i, i.B), (i.Flags & Fl.NaN) != 0));
                    break;
                case Op.MaxF:
                    SetF(ref rf, ref i, PtxMath.Max(In(ref rf, consts, ref i, i.A), In(ref rf, consts, ref i, i.B), (i.Flags & Fl.NaN) != 0));
                    break;
                case Op.SqrtF: SetF(ref rf, ref i, MathF.Sqrt(In(ref rf, consts, ref i, i.A))); break;
                case Op.RsqrtF: SetF(ref rf, ref i, (float)(1.0 / Math.Sqrt(In(ref rf, consts, ref i, i.A)))); break;
                case Op.RcpF: SetF(ref rf, ref i, (float)(1.0 / In(ref rf, consts, ref i, i.A))); break;
                case Op.Ex2F: SetF(ref rf, ref i, (float)Math.Pow(2.0, In(ref rf, consts, ref i, i.A))); break;
                case Op.Lg2F: SetF(ref rf, ref i, (float)Math.Log2(In(ref rf, consts, ref i, i.A))); break;
                case Op.SinF: SetF(ref rf, ref i, (float)Math.Sin(In(ref rf, consts, ref i, i.A))); break;
                case Op.CosF: SetF(ref rf, ref i, (float)Math.Cos(In(ref rf, consts, ref i, i.A))); break;
                case Op.TanhF: SetF(ref rf, ref i, (float)Math.Tanh(In(ref rf, consts, ref i, i.A))); break;
                // ---------------------------------------------------------------- fp64
                case Op.AddD: Set(ref rf, i.D, Bits(D(R(ref rf, consts, i.A)) + D(R(ref rf, consts, i.B)))); break;
                case Op.SubD: Set(ref rf, i.D, Bits(D(R(ref rf, consts, i.A)) - D(R(ref rf, consts, i.B)))); break;
                case Op.MulD: Set(ref rf, i.D, Bits(D(R(ref rf, consts, i.A)) * D(R(ref rf, consts, i.B)))); break;
                case Op.FmaD: Set(ref rf, i.D, Bits(Math.FusedMultiplyAdd(D(R(ref rf, consts, i.A)), D(R(ref rf, consts, i.B)), D(R(ref rf, consts, i.C))))); break;
                case Op.DivD: Set(ref rf, i.D, Bits(D(R(ref rf, consts, i.A)) / D(R(ref rf, consts, i.B)))); break;
                case Op.NegD: Set(ref rf, i.D, Bits(-D(R(ref rf, consts, i.A)))); break;
                case Op.AbsD: Set(ref rf, i.D, Bits(Math.Abs(D(R(ref rf, consts, i.A))))); break;
                case Op.MinD: Set(ref rf, i.D, Bits(PtxMath.Min(D(R(ref rf, consts, i.A)), D(R(ref rf, consts, i.B))))); break;
                case Op.MaxD: Set(ref rf, i.D, Bits(PtxMath.Max(D(R(ref rf, consts, i.A)), D(R(ref rf, consts, i.B))))); break;
                case Op.SqrtD: Set(ref rf, i.D, Bits(Math.Sqrt(D(R(ref rf, consts, i.A))))); break;
                case Op.RcpD: Set(ref rf, i.D, Bits(1.0 / D(R(ref rf, consts, i.A)))); break;
                // ---------------------------------------------------------------- conversions
                case Op.CvtF32F16:
                {
                    float f = FromHalf(R(ref rf, consts, i.A));
                    if ((i.Flags & Fl.Ftz) != 0) f = Ftz(f);
                    Set(ref rf, i.D, Bits(f));
                    break;
                }
                case Op.CvtF16F32:
                {
                    float f = F(R(ref rf, consts, i.A));
                    if ((i.Flags & Fl.Ftz) != 0) f = Ftz(f);
                    Set(ref rf, i.D, ToHalf(f));
                    break;
                }
                case Op.CvtF32Bf16: Set(ref rf, i.D, Bits(FromBf16(R(ref rf, consts, i.A)))); break;
                case Op.CvtBf16F32: Set(ref rf, i.D, ToBf16(F(R(ref rf, consts, i.A)))); break;
                case Op.CvtPackF16x2:
                    // d = { cvt(a) in the upper half, cvt(b) in the lower half }
                    Set(ref rf, i.D, ((ulong)ToHalf(F(R(ref rf, consts, i.A))) << 16) | ToHalf(F(R(ref rf, consts, i.B))));
                    break;
                case Op.CvtPackBf16x2:
                    Set(ref rf, i.D, ((ulong)ToBf16(F(R(ref rf, consts, i.A))) << 16) | ToBf16(F(R(ref rf, consts, i.B))));
                    break;
                case Op.CvtIntInt:
                    Set(ref rf, i.D, CvtIntInt(R(ref rf, consts, i.A), i.T, i.T2, (i.Flags & Fl.Sat) != 0));
                    break;
                case Op.Cvt: Set(ref rf, i.D, PtxMath.Cvt(R(ref rf, consts, i.A), i.T, i.T2, i.Mode, i.Flags)); break;
                case Op.CvtaToGlobal: Set(ref rf, i.D, R(ref rf, consts, i.A) & i.Mask); break;
                case Op.CvtaShared: Set(ref rf, i.D, (R(ref rf, consts, i.A) + SharedWindow) & i.Mask); break;
                case Op.CvtaLocal: Set(ref rf, i.D, (R(ref rf, consts, i.A) + LocalWindow) & i.Mask); break;
                case Op.CvtaToShared:
                case Op.CvtaToLocal:
                {
                    ulong a = R(ref rf, consts, i.A), w = i.Op == Op.CvtaToShared ? SharedWindow : LocalWindow;
                    _pc[t] = pc;
                    if (a - w >= WindowSize)
                        throw Fail(PtxCheckKind.OutOfBounds, t, $"cvta.to.{(i.Op == Op.CvtaToShared ? "shared" : "local")} of 0x{a:x}, which is not a {(i.Op == Op.CvtaToShared ? "shared" : "local")} generic address", a);
                    Set(ref rf, i.D, (a - w) & i.Mask);
                    break;
                }
                // ---------------------------------------------------------------- memory
                case Op.LdParam:
                {
                    int es = i.W >> 3;
                    long off = i.Imm;
                    if (off < 0 || off + (long)es * i.VecN > _k.ParamBytes || off % es != 0)
                    {
                        _pc[t] = pc;
                        throw Fail(off % es != 0 ? PtxCheckKind.Misaligned : PtxCheckKind.OutOfBounds, t,
                            $"ld.param at offset {off} ({es * i.VecN} bytes) of a {_k.ParamBytes}-byte parameter block");
                    }
                    for (int k = 0; k < i.VecN; k++)
                        Set(ref rf, vecs[i.Vec + k], Load(_param.AsSpan((int)off + k * es), ref i));
                    break;
                }
                case Op.LdGlobal: _pc[t] = pc; LdGlobal(t, ref rf, ref i, R(ref rf, consts, i.A) + (ulong)i.Imm); break;
                case Op.StGlobal: _pc[t] = pc; StGlobal(t, ref rf, ref i, R(ref rf, consts, i.A) + (ulong)i.Imm); break;
                case Op.LdShared: _pc[t] = pc; LdShared(t, ref rf, ref i, R(ref rf, consts, i.A) + (ulong)i.Imm); break;
                case Op.StShared: _pc[t] = pc; StShared(t, ref rf, ref i, R(ref rf, consts, i.A) + (ulong)i.Imm); break;
                case Op.LdLocal: _pc[t] = pc; LdLocal(t, ref rf, ref i, R(ref rf, consts, i.A) + (ulong)i.Imm); break;
                case Op.StLocal: _pc[t] = pc; StLocal(t, ref rf, ref i, R(ref rf, consts, i.A) + (ulong)i.Imm); break;
                case Op.LdGeneric:
                {
                    _pc[t] = pc;
                    ulong a = R(ref rf, consts, i.A) + (ulong)i.Imm;
                    if (a - SharedWindow < WindowSize) LdShared(t, ref rf, ref i, a - SharedWindow);
                    else if (a - LocalWindow < WindowSize) LdLocal(t, ref rf, ref i, a - LocalWindow);
                    else LdGlobal(t, ref rf, ref i, a);
                    break;
                }
                case Op.StGeneric:
                {
                    _pc[t] = pc;
                    ulong a = R(ref rf, consts, i.A) + (ulong)i.Imm;
                    if (a - SharedWindow < WindowSize) StShared(t, ref rf, ref i, a - SharedWindow);
                    else if (a - LocalWindow < WindowSize) StLocal(t, ref rf, ref i, a - LocalWindow);
                    else StGlobal(t, ref rf, ref i, a);
                    break;
                }
                case Op.AtomGlobal or Op.AtomShared or Op.AtomGeneric:
                    _pc[t] = pc;
                    Atomic(t, ref rf, ref i);
                    break;
                case Op.CpAsync: _pc[t] = pc; CpAsyncIssue(t, ref rf, ref i); break;
                case Op.CpAsyncCommit: CpAsyncCommit(t); break;
                case Op.CpAsyncWait: _pc[t] = pc; CpAsyncWait(t, i.Imm); break;
                case Op.FenceProxyAsync:
                    if (_hasWg) _proxyFences[t]++;
                    break;
                // ---------------------------------------------------------------- control
                case Op.Bra:
                {
                    int target = (int)i.Imm;
                    if (target <= pc && --_budget < 0)
                    {
                        _pc[t] = pc;
                        throw Fail(PtxCheckKind.Deadlock, t, $"more than {_o.MaxThreadInstructions:N0} backward branches in one launch (a hang?)");
                    }
                    pc = target;
                    continue;
                }
                case Op.Ret:
                    _pc[t] = pc;
                    if (_hasWg) WgExitCheck(t);
                    _state[t] = Exited;
                    _exited[t >> 5] |= 1u << (t & 31);
                    _pc[t] = pc;
                    return;
                case Op.Trap:
                    _pc[t] = pc;
                    throw Fail(PtxCheckKind.InvalidInstruction, t, "trap executed");
                // ---------------------------------------------------------------- collectives
                case Op.BarSync:
                    cls[(int)InstrClass.Collective]--; // counted when the barrier completes
                    _state[t] = AtBarrier;
                    _pc[t] = pc;
                    return;
                case Op.WarpSync or Op.Shfl or Op.Vote or Op.Mma or Op.Ldmatrix:
                    cls[(int)InstrClass.Collective]--;
                    _pc[t] = pc;
                    ArriveWarp(t, ref i);
                    return;
                case Op.WgFence or Op.WgCommit or Op.WgWait or Op.WgMma:
                    cls[(int)InstrClass.Collective]--;   // counted when the warpgroup's collective completes
                    _pc[t] = pc;
                    ArriveGroup(t);
                    return;
                default:
                    _pc[t] = pc;
                    throw Fail(PtxCheckKind.InvalidInstruction, t, $"opcode {i.Op} has no implementation");
            }
            pc++;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong R(ref ulong rf, ulong[] consts, int o) => o >= 0 ? Unsafe.Add(ref rf, o) : consts[~o];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Set(ref ulong rf, int d, ulong v) => Unsafe.Add(ref rf, d) = v;

    /// <summary>An f32 source operand, flushed when the instruction has .ftz.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float In(ref ulong rf, ulong[] consts, ref Instr i, int o)
    {
        float f = F(R(ref rf, consts, o));
        return (i.Flags & Fl.Ftz) != 0 ? Ftz(f) : f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SetF(ref ulong rf, ref Instr i, float f)
    {
        if ((i.Flags & (Fl.Ftz | Fl.Sat)) != 0)
        {
            if ((i.Flags & Fl.Ftz) != 0) f = Ftz(f);
            if ((i.Flags & Fl.Sat) != 0) f = Sat(f);
        }
        Unsafe.Add(ref rf, i.D) = BitConverter.SingleToUInt32Bits(f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SetP(ref ulong rf, ulong[] consts, ref Instr i, bool r)
    {
        int bop = i.Mode >> 4;
        bool q = !r;
        if (bop != Cmp.BoolNone)
        {
            bool c = R(ref rf, consts, i.C) != 0;
            (r, q) = bop switch
            {
                Cmp.BoolAnd => (r && c, q && c),
                Cmp.BoolOr => (r || c, q || c),
                _ => (r ^ c, q ^ c),
            };
        }
        Unsafe.Add(ref rf, i.D) = r ? 1UL : 0UL;
        if (i.D2 >= 0) Unsafe.Add(ref rf, i.D2) = q ? 1UL : 0UL;
    }

    /// <summary>Reads one element of a load (little-endian), sign-extending signed types to the register width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Load(ReadOnlySpan<byte> s, ref Instr i)
    {
        ulong v = i.W switch
        {
            8 => s[0],
            16 => MemoryMarshal.Read<ushort>(s),
            32 => MemoryMarshal.Read<uint>(s),
            _ => MemoryMarshal.Read<ulong>(s),
        };
        if (PtxDecoder.IsSigned(i.T) && i.E > i.W)
            v = (ulong)SignExtend(v, i.W) & (i.E >= 64 ? ulong.MaxValue : (1UL << i.E) - 1);
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(Span<byte> s, ref Instr i, ulong v)
    {
        switch (i.W)
        {
            case 8: s[0] = (byte)v; break;
            case 16: MemoryMarshal.Write(s, (ushort)v); break;
            case 32: MemoryMarshal.Write(s, (uint)v); break;
            default: MemoryMarshal.Write(s, v); break;
        }
    }
}
