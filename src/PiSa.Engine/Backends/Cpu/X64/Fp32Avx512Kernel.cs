namespace PiSa.Engine.Backends.Cpu.X64;

/// <summary>
/// The float32 GEMM's 512-bit micro-kernels: a 14-row tile of C += A · B over one or two 16-column panels of a
/// <see cref="PackedMatrix"/>, with 14 or 28 zmm accumulators (row r in zmm r, or zmm 2r and 2r+1), B's vectors of
/// one k in zmm28/zmm29, and A's element broadcast from memory into each vfmadd231ps. A is read in place, row-major
/// (a conv's gathered tile or a linear layer's input), so nothing is repacked per call; rows are addressed from five
/// base pointers three rows apart plus lda and 2*lda (x86 addressing has one scaled index).
/// Zen 5 and Sapphire Rapids retire two 512-bit FMAs per cycle, twice the 256-bit kernel's width; each C element
/// still sums its products in k order, one fused multiply-add at a time, exactly as <see cref="CpuGemm"/>'s 256-bit
/// kernel does, so both give the same bits.
///
/// C signature (System V x86-64):
///   void k(const float* a, const float* b0, long kc, float* c, long ldcBytes, const float* b1, long ldaBytes)
///   a (rdi):   14 rows of kc floats, row r at a + r*ldaBytes
///   b0 (rsi):  kc x 16 floats (one panel's rows k0..k0+kc), b1 (r9): the next panel's (two-panel kernel only)
///   kc (rdx) &gt;= 0; c (rcx): 14 rows of 16 or 32 floats, row stride ldcBytes (r8); read, added to, written.
///   ldaBytes: the seventh argument, on the stack at [rsp+8].
/// All zmm registers and rax, rcx, rdx, rsi, rdi, r8-r11 are caller-saved in the System V ABI, so nothing else is saved.
/// </summary>
internal static unsafe class Fp32Avx512Kernel
{
    public const int MR = 14, PanelWidth = 16;

    private static readonly Lazy<nint> s_two = new(() => ExecutableMemory.Map(Assemble(panels: 2)), LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<nint> s_one = new(() => ExecutableMemory.Map(Assemble(panels: 1)), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Whether the float32 GEMM uses these kernels in this process (decided once: AVX-512 usable and not
    /// switched off by PISA_CPU_AVX512=off at start).</summary>
    public static readonly bool Enabled = Avx512Support.UnavailableReason() == null;

    /// <summary>14 x 32: two panels. Callers check <see cref="Avx512Support"/> first.</summary>
    public static delegate* unmanaged<float*, float*, long, float*, long, float*, long, void> TwoPanels
        => (delegate* unmanaged<float*, float*, long, float*, long, float*, long, void>)s_two.Value;

    /// <summary>14 x 16: one panel (b1 is ignored).</summary>
    public static delegate* unmanaged<float*, float*, long, float*, long, float*, long, void> OnePanel
        => (delegate* unmanaged<float*, float*, long, float*, long, float*, long, void>)s_one.Value;

    /// <summary>Row r's [base, index = lda, scale] operand: five bases, rows 3j, 3j+1, 3j+2 from base j.</summary>
    private static (int Base, int Index, int Scale) Row(int r, ReadOnlySpan<int> bases)
    {
        int b = bases[r / 3];
        return (r % 3) switch { 0 => (b, -1, 1), 1 => (b, Lda, 1), _ => (b, Lda, 2) };
    }

    private const int Lda = X64Code.R10;

    /// <summary>The machine code; the listing is the comments.</summary>
    internal static byte[] Assemble(int panels)
    {
        if (panels is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(panels));
        const int A = X64Code.Rdi, B0 = X64Code.Rsi, K = X64Code.Rdx, C = X64Code.Rcx, Ldc = X64Code.R8, B1 = X64Code.R9, P = X64Code.Rax;
        const int VB0 = 28, VB1 = 29;
        ReadOnlySpan<int> bases = [A, X64Code.R11, X64Code.Rax, X64Code.Rcx, X64Code.R8];
        int Acc(int r, int half) => panels * r + half;
        var x = new X64Code();
        x.Mov(P, C);                                          // mov rax, rcx             ; rax walks C's rows for the loads
        for (int r = 0; r < MR; r++)
        {
            for (int h = 0; h < panels; h++)
                x.VmovupsLoad(Acc(r, h), P, 64 * h);          // vmovups zmm(acc), [rax + 64h]
            if (r < MR - 1) x.Add(P, Ldc);                    // add rax, r8
        }
        x.MovFromStack(Lda, 8);                               // mov r10, [rsp+8]         ; ldaBytes
        x.Push(C);                                            // push rcx                 ; C and ldc come back for the stores
        x.Push(Ldc);                                          // push r8
        for (int j = 1; j < bases.Length; j++)                // bases[j] = a + 3j*lda:  mov bj, b(j-1); add bj, r10 (x3)
        {
            x.Mov(bases[j], bases[j - 1]);
            for (int t = 0; t < 3; t++) x.Add(bases[j], Lda);
        }
        x.Test(K, K);                                         // test rdx, rdx
        int skip = x.JzForward();                             // jz .store                ; kc == 0: C unchanged
        int loop = x.Length;                                  // .loop:
        x.VmovupsLoad(VB0, B0, 0);                            // vmovups zmm28, [rsi]     ; B row k, panel 0
        if (panels == 2) x.VmovupsLoad(VB1, B1, 0);           // vmovups zmm29, [r9]      ; panel 1
        for (int r = 0; r < MR; r++)
        {
            var (b, i, s) = Row(r, bases);
            x.Vfmadd231psBroadcast(Acc(r, 0), VB0, b, 0, i, s);             // vfmadd231ps zmm(acc), zmm28, dword [row r]{1to16}
            if (panels == 2) x.Vfmadd231psBroadcast(Acc(r, 1), VB1, b, 0, i, s);
        }
        x.AddImm(B0, 4 * PanelWidth);                         // add rsi, 64
        if (panels == 2) x.AddImm(B1, 4 * PanelWidth);        // add r9, 64
        foreach (int b in bases) x.AddImm(b, 4);              // add base, 4              ; next k of every row
        x.Dec(K);                                             // dec rdx
        x.JnzBack(loop);                                      // jnz .loop
        x.Bind(skip);                                         // .store:
        x.Pop(Ldc);                                           // pop r8
        x.Pop(C);                                             // pop rcx
        for (int r = 0; r < MR; r++)
        {
            for (int h = 0; h < panels; h++)
                x.VmovupsStore(C, 64 * h, Acc(r, h));         // vmovups [rcx + 64h], zmm(acc)
            if (r < MR - 1) x.Add(C, Ldc);                    // add rcx, r8
        }
        x.Vzeroupper();                                       // vzeroupper
        x.Ret();                                              // ret
        return x.ToArray();
    }
}
