using PiSa.Engine.Backends.Cpu.Bf16;
using PiSa.Engine.Backends.Cpu.X64;

namespace PiSa.Tests.Cpu.Bf16;

/// <summary>The hand encoder and the rounding, checked without running any bf16 instruction (so on any CPU).</summary>
public class Bf16EncodingTests
{
    // Bytes from `llvm-mc -x86-asm-syntax=intel -show-encoding` (LLVM 14) for the same instructions.
    [Fact]
    public void Encoder_matches_llvm_mc()
    {
        static byte[] Of(Action<X64Code> emit) { var x = new X64Code(); emit(x); return x.ToArray(); }
        Assert.Equal(new byte[] { 0x48, 0x89, 0xC8 }, Of(x => x.Mov(X64Code.Rax, X64Code.Rcx)));               // mov rax, rcx
        Assert.Equal(new byte[] { 0x4C, 0x01, 0xC0 }, Of(x => x.Add(X64Code.Rax, X64Code.R8)));                // add rax, r8
        Assert.Equal(new byte[] { 0x48, 0x85, 0xD2 }, Of(x => x.Test(X64Code.Rdx, X64Code.Rdx)));              // test rdx, rdx
        Assert.Equal(new byte[] { 0x48, 0xFF, 0xCA }, Of(x => x.Dec(X64Code.Rdx)));                            // dec rdx
        Assert.Equal(new byte[] { 0x48, 0x81, 0xC6, 0x80, 0, 0, 0 }, Of(x => x.AddImm(X64Code.Rsi, 128)));     // add rsi, 128
        Assert.Equal(new byte[] { 0x62, 0xF1, 0x7C, 0x48, 0x10, 0x00 }, Of(x => x.VmovupsLoad(0, X64Code.Rax, 0)));        // vmovups zmm0, [rax]
        Assert.Equal(new byte[] { 0x62, 0x61, 0x7C, 0x48, 0x10, 0x58, 0x01 }, Of(x => x.VmovupsLoad(27, X64Code.Rax, 64))); // vmovups zmm27, [rax+64]
        Assert.Equal(new byte[] { 0x62, 0x61, 0x7C, 0x48, 0x10, 0x6E, 0x01 }, Of(x => x.VmovupsLoad(29, X64Code.Rsi, 64))); // vmovups zmm29, [rsi+64]
        Assert.Equal(new byte[] { 0x62, 0x61, 0x7C, 0x48, 0x11, 0x59, 0x01 }, Of(x => x.VmovupsStore(X64Code.Rcx, 64, 27))); // vmovups [rcx+64], zmm27
        Assert.Equal(new byte[] { 0x62, 0xE1, 0x7C, 0x48, 0x11, 0x49, 0x01 }, Of(x => x.VmovupsStore(X64Code.Rcx, 64, 17))); // vmovups [rcx+64], zmm17
        Assert.Equal(new byte[] { 0x62, 0xF2, 0x1E, 0x50, 0x52, 0x07 }, Of(x => x.Vdpbf16psBroadcast(0, 28, X64Code.Rdi, 0)));        // vdpbf16ps zmm0, zmm28, dword [rdi]{1to16}
        Assert.Equal(new byte[] { 0x62, 0x62, 0x16, 0x50, 0x52, 0x5F, 0x0D }, Of(x => x.Vdpbf16psBroadcast(27, 29, X64Code.Rdi, 52))); // vdpbf16ps zmm27, zmm29, dword [rdi+52]{1to16}
        Assert.Equal(new byte[] { 0x62, 0xE2, 0x16, 0x50, 0x52, 0x4F, 0x01 }, Of(x => x.Vdpbf16psBroadcast(17, 29, X64Code.Rdi, 4)));  // vdpbf16ps zmm17, zmm29, dword [rdi+4]{1to16}
        Assert.Equal(new byte[] { 0xC5, 0xF8, 0x77 }, Of(x => x.Vzeroupper()));
    }

    [Fact]
    public void Encoder_refuses_what_it_cannot_encode()
    {
        var x = new X64Code();
        Assert.Throws<ArgumentOutOfRangeException>(() => x.VmovupsLoad(0, X64Code.Rax, 32));      // not a multiple of 64
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Vdpbf16psBroadcast(0, 28, X64Code.Rdi, 4 * 128)); // past disp8*4
        Assert.Throws<ArgumentOutOfRangeException>(() => x.VmovupsLoad(32, X64Code.Rax, 0));
    }

    [Fact]
    public void Kernel_loop_jumps_back_to_its_start()
    {
        // The assembled kernel ends in vzeroupper; ret, and its one backward jnz lands on the first B load.
        var code = Bf16MicroKernel.Assemble();
        Assert.Equal(new byte[] { 0xC5, 0xF8, 0x77, 0xC3 }, code[^4..]);
        int jnz = FindJnz(code);
        Assert.True(jnz > 0, "no jnz rel32 in the kernel");
        int target = jnz + 6 + BitConverter.ToInt32(code, jnz + 2);
        Assert.Equal(new byte[] { 0x62, 0x61, 0x7C, 0x48, 0x10, 0x26 }, code[target..(target + 6)]);   // vmovups zmm28, [rsi]
    }

    private static int FindJnz(byte[] code)
    {
        for (int i = code.Length - 6; i >= 0; i--)
            if (code[i] == 0x0F && code[i + 1] == 0x85) return i;
        return -1;
    }

    [Theory]
    [InlineData(0x3F800000u, (ushort)0x3F80)]  // 1.0 exact
    [InlineData(0x3F808000u, (ushort)0x3F80)]  // 1 + 2^-8: a tie, to the even 1.0
    [InlineData(0x3F818000u, (ushort)0x3F82)]  // 1 + 3*2^-8: a tie, to the even 1 + 2^-6
    [InlineData(0x3F808001u, (ushort)0x3F81)]  // just past the tie: up
    [InlineData(0x3F807FFFu, (ushort)0x3F80)]  // just below the tie: down
    [InlineData(0xBF818000u, (ushort)0xBF82)]  // negative tie
    [InlineData(0x80000000u, (ushort)0x8000)]  // -0
    [InlineData(0x7F800000u, (ushort)0x7F80)]  // +inf
    [InlineData(0x7F7FFFFFu, (ushort)0x7F80)]  // largest float rounds past the largest bf16: inf, as the hardware
    [InlineData(0x7F800001u, (ushort)0x7FC0)]  // signalling NaN becomes quiet, not inf
    [InlineData(0xFFC00000u, (ushort)0xFFC0)]  // negative quiet NaN
    public void Round_is_nearest_even(uint bits, ushort expected)
        => Assert.Equal(expected, Bf16Round.Round(BitConverter.UInt32BitsToSingle(bits)));

    [Fact]
    public void Vector_pairs_agree_with_scalar_rounding()
    {
        var rng = new Random(5);
        var x = new float[16 * 64];
        for (int i = 0; i < x.Length; i++)
            x[i] = (i % 7) switch
            {
                0 => BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)),  // any bit pattern, NaNs included
                1 => BitConverter.UInt32BitsToSingle(0x3F808000u + ((uint)rng.Next(4) << 16)),  // ties
                _ => (float)(rng.NextDouble() * 2 - 1) * 100f,
            };
        for (int b = 0; b < x.Length; b += 16)
        {
            var v = Bf16Round.Pairs(System.Runtime.Intrinsics.Vector256.Create(x, b), System.Runtime.Intrinsics.Vector256.Create(x, b + 8));
            for (int q = 0; q < 8; q++)
                Assert.Equal(Bf16Round.Round(x[b + 2 * q]) | (uint)Bf16Round.Round(x[b + 2 * q + 1]) << 16, v[q]);
        }
    }
}
