using PiSa.Engine.Backends.Cpu.X64;

namespace PiSa.Engine.Backends.Cpu.Bf16;

/// <summary>
/// The bf16 GEMM micro-kernel: a 14 x 32 float32 tile of C += A · B with A and B in bf16 pairs, 28 zmm
/// accumulators (zmm0..zmm27, row r in zmm 2r and 2r+1), B's two vectors of a k pair in zmm28/zmm29, and A's
/// pair broadcast from memory into each vdpbf16ps. 28 dot products per 2 loads of B keeps Zen 4 / Sapphire
/// Rapids at one 512-bit vdpbf16ps per cycle (32 multiply-adds): twice the 256-bit float32 FMA kernel.
///
/// C signature (System V x86-64): void k(const uint* a, const uint* b, long kPairs, float* c, long ldcBytes)
///   a (rdi):  kPairs x 14 dwords, dword [q*14 + r] = bf16 pair (A[r, 2q], A[r, 2q+1]), low half first
///   b (rsi):  kPairs x 32 dwords, dword [q*32 + j] = bf16 pair (B[2q, j], B[2q+1, j])
///   kPairs (rdx) &gt;= 0, c (rcx): 14 rows of 32 floats, row stride ldcBytes (r8); C is read, added to, written.
/// All zmm registers are caller-saved in the System V ABI, so nothing is saved.
/// </summary>
internal static unsafe class Bf16MicroKernel
{
    public const int MR = 14, NR = 32;

    private static readonly Lazy<nint> s_entry = new(() => ExecutableMemory.Map(Assemble()), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The kernel, mapped on first use. Callers check <see cref="Bf16Support.IsSupported"/> first.</summary>
    public static delegate* unmanaged<uint*, uint*, long, float*, long, void> Entry
        => (delegate* unmanaged<uint*, uint*, long, float*, long, void>)s_entry.Value;

    /// <summary>The machine code; the listing is the comments.</summary>
    internal static byte[] Assemble()
    {
        const int A = X64Code.Rdi, B = X64Code.Rsi, K = X64Code.Rdx, C = X64Code.Rcx, Ldc = X64Code.R8, P = X64Code.Rax;
        const int B0 = 28, B1 = 29;
        var x = new X64Code();
        x.Mov(P, C);                                      // mov rax, rcx              ; rax walks C's rows for the loads
        for (int r = 0; r < MR; r++)
        {
            x.VmovupsLoad(2 * r, P, 0);                   // vmovups zmm(2r),   [rax]
            x.VmovupsLoad(2 * r + 1, P, 64);              // vmovups zmm(2r+1), [rax+64]
            if (r < MR - 1) x.Add(P, Ldc);                // add rax, r8
        }
        x.Test(K, K);                                     // test rdx, rdx
        int skip = x.JzForward();                         // jz .store                 ; kPairs == 0: C unchanged
        int loop = x.Length;                              // .loop:
        x.VmovupsLoad(B0, B, 0);                          // vmovups zmm28, [rsi]      ; B pair row, columns 0..15
        x.VmovupsLoad(B1, B, 64);                         // vmovups zmm29, [rsi+64]   ; columns 16..31
        for (int r = 0; r < MR; r++)
        {
            x.Vdpbf16psBroadcast(2 * r, B0, A, 4 * r);    // vdpbf16ps zmm(2r),   zmm28, dword [rdi+4r]{1to16}
            x.Vdpbf16psBroadcast(2 * r + 1, B1, A, 4 * r);// vdpbf16ps zmm(2r+1), zmm29, dword [rdi+4r]{1to16}
        }
        x.AddImm(A, 4 * MR);                              // add rdi, 56
        x.AddImm(B, 4 * NR);                              // add rsi, 128
        x.Dec(K);                                         // dec rdx
        x.JnzBack(loop);                                  // jnz .loop
        x.Bind(skip);                                     // .store:
        for (int r = 0; r < MR; r++)
        {
            x.VmovupsStore(C, 0, 2 * r);                  // vmovups [rcx],    zmm(2r)
            x.VmovupsStore(C, 64, 2 * r + 1);             // vmovups [rcx+64], zmm(2r+1)
            if (r < MR - 1) x.Add(C, Ldc);                // add rcx, r8
        }
        x.Vzeroupper();                                   // vzeroupper
        x.Ret();                                          // ret
        return x.ToArray();
    }
}
