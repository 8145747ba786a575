namespace PiSa.Engine.Backends.Cpu.X64;

/// <summary>
/// The handful of x86-64 instructions the CPU GEMM micro-kernels need (<see cref="Bf16.Bf16MicroKernel"/>,
/// <see cref="Fp32Avx512Kernel"/>), encoded by hand (Intel SDM vol. 2, 2.7 "EVEX encoding"): .NET has no AVX512-BF16
/// intrinsics, and the NativeAOT build targets x86-64-v3, where its AVX-512 intrinsics are compile-time false. Each
/// method appends one instruction; the kernels' listings read like the assembly. Encodings were checked against
/// `llvm-mc -show-encoding`, and the tests pin them as bytes.
/// General registers by number: rax 0, rcx 1, rdx 2, rsp 4, rsi 6, rdi 7, r8-r11 8-11 (the SysV argument and scratch registers).
/// </summary>
internal sealed class X64Code
{
    public const int Rax = 0, Rcx = 1, Rdx = 2, Rsp = 4, Rsi = 6, Rdi = 7, R8 = 8, R9 = 9, R10 = 10, R11 = 11;

    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;
    public byte[] ToArray() => [.. _bytes];

    private void Emit(params byte[] b) => _bytes.AddRange(b);

    // ---- EVEX (AVX-512) ---------------------------------------------------------------------------

    /// <summary>
    /// One 512-bit EVEX instruction with a [base + index*scale + disp] memory operand (index -1: none).
    /// P0 = R X B R' 0 0 m m (R, X, B, R' stored inverted), P1 = W vvvv(inverted) 1 pp, P2 = z L'L b V'(inverted) aaa.
    /// Displacements use EVEX's compressed disp8*N form: the byte is disp / n, n = 64 for a full zmm, 4 for a
    /// broadcast dword.
    /// </summary>
    private void EvexMem(int map, int pp, int opcode, int reg, int vvvv, int baseReg, int disp, bool broadcast, int index = -1, int scale = 1)
    {
        if (reg is < 0 or > 31 || vvvv is < 0 or > 31 || baseReg is < 0 or > 15 || (baseReg & 7) == 5 || (index < 0 && (baseReg & 7) == 4))
            throw new ArgumentOutOfRangeException(nameof(reg), "register out of the encodable set (rbp/r13 bases need disp forms, rsp/r12 an index: not used here)");
        if (index is 4 or < -1 or > 15 || (index >= 0 && scale is not (1 or 2 or 4 or 8)))
            throw new ArgumentOutOfRangeException(nameof(index), "index register or scale not encodable");
        int n = broadcast ? 4 : 64;
        if (disp % n != 0 || disp / n is < -128 or > 127)
            throw new ArgumentOutOfRangeException(nameof(disp), $"displacement {disp} is not a disp8*{n}");
        bool indexHigh = index >= 8;
        byte p0 = (byte)(((reg & 8) == 0 ? 0x80 : 0) | (indexHigh ? 0 : 0x40) | ((baseReg & 8) == 0 ? 0x20 : 0)
                         | ((reg & 16) == 0 ? 0x10 : 0) | map);
        byte p1 = (byte)((((~vvvv) & 15) << 3) | 0x04 | pp);
        byte p2 = (byte)(0x40 /* L'L = 10: 512 bits */ | (broadcast ? 0x10 : 0) | ((vvvv & 16) == 0 ? 0x08 : 0));
        int mod = disp == 0 ? 0 : 1;
        if (index < 0)
            Emit(0x62, p0, p1, p2, (byte)opcode, (byte)((mod << 6) | ((reg & 7) << 3) | (baseReg & 7)));
        else
            Emit(0x62, p0, p1, p2, (byte)opcode, (byte)((mod << 6) | ((reg & 7) << 3) | 4),
                 (byte)((System.Numerics.BitOperations.Log2((uint)scale) << 6) | ((index & 7) << 3) | (baseReg & 7)));
        if (mod == 1) Emit((byte)(sbyte)(disp / n));
    }

    /// <summary>vmovups zmm, [base + disp] (EVEX.512.0F.W0 10 /r).</summary>
    public void VmovupsLoad(int zmm, int baseReg, int disp) => EvexMem(map: 1, pp: 0, 0x10, zmm, 0, baseReg, disp, false);

    /// <summary>vmovups [base + disp], zmm (EVEX.512.0F.W0 11 /r).</summary>
    public void VmovupsStore(int baseReg, int disp, int zmm) => EvexMem(map: 1, pp: 0, 0x11, zmm, 0, baseReg, disp, false);

    /// <summary>vdpbf16ps acc, src, dword [base + disp]{1to16} (EVEX.512.F3.0F38.W0 52 /r): for each of 16 lanes,
    /// acc += src.bf16[2i] * m.bf16[0] + src.bf16[2i+1] * m.bf16[1], the memory dword broadcast to every lane.</summary>
    public void Vdpbf16psBroadcast(int acc, int src, int baseReg, int disp) => EvexMem(map: 2, pp: 2, 0x52, acc, src, baseReg, disp, true);

    /// <summary>vfmadd231ps acc, src, dword [base + index*scale + disp]{1to16} (EVEX.512.66.0F38.W0 B8 /r): for each of
    /// 16 lanes, acc = src * m + acc rounded once, the memory dword broadcast to every lane (index -1: none).</summary>
    public void Vfmadd231psBroadcast(int acc, int src, int baseReg, int disp, int index = -1, int scale = 1)
        => EvexMem(map: 2, pp: 1, 0xB8, acc, src, baseReg, disp, true, index, scale);

    /// <summary>vzeroupper (VEX.128.0F.WIG 77): avoids the SSE transition penalty in the caller.</summary>
    public void Vzeroupper() => Emit(0xC5, 0xF8, 0x77);

    // ---- general-purpose (REX.W forms, 64-bit operands) ---------------------------------------------

    private static byte Rex(int reg, int rm) => (byte)(0x48 | ((reg & 8) != 0 ? 4 : 0) | ((rm & 8) != 0 ? 1 : 0));
    private static byte ModRmReg(int reg, int rm) => (byte)(0xC0 | ((reg & 7) << 3) | (rm & 7));

    /// <summary>mov dst, src (REX.W 89 /r).</summary>
    public void Mov(int dst, int src) => Emit(Rex(src, dst), 0x89, ModRmReg(src, dst));

    /// <summary>add dst, src (REX.W 01 /r).</summary>
    public void Add(int dst, int src) => Emit(Rex(src, dst), 0x01, ModRmReg(src, dst));

    /// <summary>add dst, imm32 (REX.W 81 /0 id): always the 32-bit immediate form, for one fixed length.</summary>
    public void AddImm(int dst, int imm)
    {
        Emit(Rex(0, dst), 0x81, ModRmReg(0, dst));
        Emit(BitConverter.GetBytes(imm));
    }

    /// <summary>test a, b (REX.W 85 /r).</summary>
    public void Test(int a, int b) => Emit(Rex(b, a), 0x85, ModRmReg(b, a));

    /// <summary>dec r (REX.W FF /1).</summary>
    public void Dec(int r) => Emit(Rex(0, r), 0xFF, ModRmReg(1, r));

    /// <summary>jz rel32 (0F 84 cd) to a label placed later with <see cref="Bind"/>; returns the patch position.</summary>
    public int JzForward() { Emit(0x0F, 0x84, 0, 0, 0, 0); return Length; }

    /// <summary>Points the forward jump whose patch position is <paramref name="patch"/> at the current position.</summary>
    public void Bind(int patch)
    {
        var rel = BitConverter.GetBytes(Length - patch);
        for (int i = 0; i < 4; i++) _bytes[patch - 4 + i] = rel[i];
    }

    /// <summary>jnz rel32 (0F 85 cd) back to <paramref name="target"/>.</summary>
    public void JnzBack(int target)
    {
        Emit(0x0F, 0x85);
        Emit(BitConverter.GetBytes(target - (Length + 4)));
    }

    /// <summary>push r (50+r, REX.B for r8-r15).</summary>
    public void Push(int r) { if (r >= 8) Emit(0x41); Emit((byte)(0x50 + (r & 7))); }

    /// <summary>pop r (58+r, REX.B for r8-r15).</summary>
    public void Pop(int r) { if (r >= 8) Emit(0x41); Emit((byte)(0x58 + (r & 7))); }

    /// <summary>mov dst, [rsp + disp8] (REX.W 8B /r, SIB 24): a stack argument.</summary>
    public void MovFromStack(int dst, int disp)
    {
        if (disp is < 0 or > 127) throw new ArgumentOutOfRangeException(nameof(disp), "stack displacement past disp8");
        Emit((byte)(0x48 | ((dst & 8) != 0 ? 4 : 0)), 0x8B, (byte)(0x44 | ((dst & 7) << 3)), 0x24, (byte)disp);
    }

    /// <summary>ret (C3).</summary>
    public void Ret() => Emit(0xC3);
}
