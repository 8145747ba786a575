using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cpu.X64;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

/// <summary>A theory that runs the 512-bit float32 kernel; skipped, with the reason, where AVX-512 is not usable.</summary>
public sealed class Avx512TheoryAttribute : TheoryAttribute
{
    public Avx512TheoryAttribute()
    {
        if (Avx512Support.UnavailableReason() is string why) Skip = "AVX-512 unavailable: " + why;
    }
}

/// <summary>
/// The float32 GEMM's 512-bit micro-kernel (<see cref="Fp32Avx512Kernel"/>) against its 256-bit kernel and a double
/// reference. Both kernels add each element's products in the same order with one fused multiply-add each, so they
/// must agree bit for bit; the double reference keeps the pair honest (a term dropped by both would agree too).
/// </summary>
public class Fp32Avx512Tests
{
    // Bytes from `llvm-mc -x86-asm-syntax=intel -show-encoding` (LLVM 14) for the same instructions.
    [Fact]
    public void Encoder_matches_llvm_mc()
    {
        static byte[] Of(Action<X64Code> emit) { var x = new X64Code(); emit(x); return x.ToArray(); }
        Assert.Equal(new byte[] { 0x62, 0xF2, 0x1D, 0x50, 0xB8, 0x07 }, Of(x => x.Vfmadd231psBroadcast(0, 28, X64Code.Rdi, 0)));          // vfmadd231ps zmm0, zmm28, dword [rdi]{1to16}
        Assert.Equal(new byte[] { 0x62, 0xB2, 0x15, 0x50, 0xB8, 0x0C, 0x17 }, Of(x => x.Vfmadd231psBroadcast(1, 29, X64Code.Rdi, 0, X64Code.R10, 1)));  // [rdi + r10]
        Assert.Equal(new byte[] { 0x62, 0x92, 0x15, 0x50, 0xB8, 0x2C, 0x53 }, Of(x => x.Vfmadd231psBroadcast(5, 29, X64Code.R11, 0, X64Code.R10, 2))); // [r11 + 2*r10]
        Assert.Equal(new byte[] { 0x62, 0x02, 0x15, 0x50, 0xB8, 0x1C, 0x10 }, Of(x => x.Vfmadd231psBroadcast(27, 29, X64Code.R8, 0, X64Code.R10, 1))); // zmm27, [r8 + r10]
        Assert.Equal(new byte[] { 0x62, 0x72, 0x1D, 0x50, 0xB8, 0x68, 0x02 }, Of(x => x.Vfmadd231psBroadcast(13, 28, X64Code.Rax, 8)));   // zmm13, [rax + 8]
        Assert.Equal(new byte[] { 0x51 }, Of(x => x.Push(X64Code.Rcx)));
        Assert.Equal(new byte[] { 0x41, 0x50 }, Of(x => x.Push(X64Code.R8)));
        Assert.Equal(new byte[] { 0x41, 0x58 }, Of(x => x.Pop(X64Code.R8)));
        Assert.Equal(new byte[] { 0x59 }, Of(x => x.Pop(X64Code.Rcx)));
        Assert.Equal(new byte[] { 0x4C, 0x8B, 0x54, 0x24, 0x08 }, Of(x => x.MovFromStack(X64Code.R10, 8)));  // mov r10, [rsp + 8]
    }

    [Fact]
    public void Encoder_refuses_an_unencodable_index()
    {
        var x = new X64Code();
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Vfmadd231psBroadcast(0, 28, X64Code.Rdi, 0, X64Code.Rsp, 1));  // rsp is no index
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Vfmadd231psBroadcast(0, 28, X64Code.Rdi, 0, X64Code.R10, 3));  // scale 3
    }

    /// <summary>A left matrix that is not read in place: exercises the packed-tile path a conv takes.</summary>
    private sealed class Packed(float[] a, int k) : GemmA
    {
        public override void Pack(int m0, int mc, int k0, int kc, Span<float> dst)
        {
            for (int r = 0; r < mc; r++) a.AsSpan((m0 + r) * k + k0, kc).CopyTo(dst.Slice(r * kc, kc));
        }
    }

    [Avx512Theory]
    [InlineData(1, 1, 1)]
    [InlineData(13, 7, 3)]          // fewer rows than one tile, N under one panel
    [InlineData(14, 256, 32)]       // exactly one tile and one K block
    [InlineData(15, 257, 17)]       // one row, one k and one column past
    [InlineData(113, 300, 48)]      // odd panel count: the one-panel kernel
    [InlineData(300, 1152, 128)]    // a VAE 3x3 conv's K
    [InlineData(29, 64, 1000)]      // wide N split into panel chunks
    public void Matches_the_256_bit_kernel_bit_for_bit_and_the_double_reference(int m, int k, int n)
    {
        int lda = k + 5, ldc = n + 3, cOff = 2;
        var a = Random(m * 31 + k, (long)m * lda, 1.5f);
        var bSrc = Random(n * 7 + 1, (long)k * n);
        var c0 = Random(3, (long)cOff + (long)m * ldc);
        var b = PackedMatrix.FromStrided(bSrc, 0, k, n, n, 1);
        float[] Run(GemmA left, bool avx512)
        {
            var c = (float[])c0.Clone();
            CpuGemm.Run(m, left, b, c, cOff, ldc, avx512);
            return c;
        }
        var dense = new float[(long)m * k];
        for (int i = 0; i < m; i++) a.AsSpan(i * lda, k).CopyTo(dense.AsSpan(i * k, k));

        var narrow = Run(new DirectA(a, 0, lda), avx512: false);
        var wide = Run(new DirectA(a, 0, lda), avx512: true);
        var widePacked = Run(new Packed(dense, k), avx512: true);
        Assert.Equal(narrow, wide);
        Assert.Equal(narrow, widePacked);

        var expected = new double[c0.Length];
        for (int i = 0; i < c0.Length; i++) expected[i] = c0[i];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = c0[cOff + i * ldc + j];
                for (int q = 0; q < k; q++) s += (double)a[i * lda + q] * bSrc[q * n + j];
                expected[cOff + i * ldc + j] = s;
            }
        AssertClose(expected, wide, rel: 1e-5, what: $"512-bit GEMM {m}x{k}x{n}");
    }
}
