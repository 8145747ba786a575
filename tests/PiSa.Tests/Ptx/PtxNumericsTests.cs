using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>
/// Numerics of single instructions, pinned to the PTX ISA's descriptions (sections of 9.7.3 "Floating-Point
/// Instructions", 9.7.9.21 "cvt", 9.7.3.x "min"/"max", 9.7.4 "Half Precision"): each kernel applies one instruction
/// (inline PTX, so NVVM cannot fold or contract it) to host-chosen inputs.
/// </summary>
public class PtxNumericsTests
{
    const string Source = """
        #define UNARY(NAME, ASM) extern "C" __global__ void NAME(const float* a, unsigned* d, int n) { \
            int i = blockIdx.x * blockDim.x + threadIdx.x; if (i >= n) return; \
            unsigned r; asm(ASM : "=r"(r) : "f"(a[i])); d[i] = r; }
        #define BINARY(NAME, ASM) extern "C" __global__ void NAME(const float* a, const float* b, unsigned* d, int n) { \
            int i = blockIdx.x * blockDim.x + threadIdx.x; if (i >= n) return; \
            unsigned r; asm(ASM : "=r"(r) : "f"(a[i]), "f"(b[i])); d[i] = r; }
        UNARY(n_cvt_f16, "{ .reg .b16 h; cvt.rn.f16.f32 h, %1; cvt.u32.u16 %0, h; }")
        UNARY(n_cvt_bf16, "{ .reg .b16 h; cvt.rn.bf16.f32 h, %1; cvt.u32.u16 %0, h; }")
        UNARY(n_cvt_rni_s32, "cvt.rni.s32.f32 %0, %1;")
        UNARY(n_cvt_rzi_u32, "cvt.rzi.u32.f32 %0, %1;")
        UNARY(n_ex2, "{ .reg .f32 t; ex2.approx.f32 t, %1; mov.b32 %0, t; }")
        UNARY(n_lg2, "{ .reg .f32 t; lg2.approx.f32 t, %1; mov.b32 %0, t; }")
        UNARY(n_rsqrt, "{ .reg .f32 t; rsqrt.approx.f32 t, %1; mov.b32 %0, t; }")
        UNARY(n_rcp, "{ .reg .f32 t; rcp.approx.f32 t, %1; mov.b32 %0, t; }")
        UNARY(n_sin, "{ .reg .f32 t; sin.approx.f32 t, %1; mov.b32 %0, t; }")
        UNARY(n_cos, "{ .reg .f32 t; cos.approx.f32 t, %1; mov.b32 %0, t; }")
        UNARY(n_sat, "{ .reg .f32 t; add.sat.f32 t, %1, 0f00000000; mov.b32 %0, t; }")
        BINARY(n_add_ftz, "{ .reg .f32 t; add.ftz.f32 t, %1, %2; mov.b32 %0, t; }")
        BINARY(n_add_rn, "{ .reg .f32 t; add.rn.f32 t, %1, %2; mov.b32 %0, t; }")
        BINARY(n_min_f, "{ .reg .f32 t; min.f32 t, %1, %2; mov.b32 %0, t; }")
        BINARY(n_max_f, "{ .reg .f32 t; max.f32 t, %1, %2; mov.b32 %0, t; }")
        BINARY(n_div_rn, "{ .reg .f32 t; div.rn.f32 t, %1, %2; mov.b32 %0, t; }")
        // setp: bit k of the result = comparison k
        BINARY(n_setp_all, "{ .reg .pred p; .reg .b32 t, u; mov.b32 u, 0;"
            " setp.lt.f32 p, %1, %2; selp.b32 t, 1, 0, p; or.b32 u, u, t;"
            " setp.ltu.f32 p, %1, %2; selp.b32 t, 2, 0, p; or.b32 u, u, t;"
            " setp.eq.f32 p, %1, %2; selp.b32 t, 4, 0, p; or.b32 u, u, t;"
            " setp.ne.f32 p, %1, %2; selp.b32 t, 8, 0, p; or.b32 u, u, t;"
            " setp.neu.f32 p, %1, %2; selp.b32 t, 16, 0, p; or.b32 u, u, t;"
            " setp.num.f32 p, %1, %2; selp.b32 t, 32, 0, p; or.b32 u, u, t;"
            " setp.nan.f32 p, %1, %2; selp.b32 t, 64, 0, p; or.b32 u, u, t;"
            " setp.geu.f32 p, %1, %2; selp.b32 t, 128, 0, p; or.b32 %0, u, t; }")
        extern "C" __global__ void fma_vs_mul_add(const float* a, const float* b, const float* c, unsigned* d) {
            float f, m;
            asm("fma.rn.f32 %0, %1, %2, %3;" : "=f"(f) : "f"(a[0]), "f"(b[0]), "f"(c[0]));
            asm("{ .reg .f32 t; mul.rn.f32 t, %1, %2; add.rn.f32 %0, t, %3; }" : "=f"(m) : "f"(a[0]), "f"(b[0]), "f"(c[0]));
            d[0] = __float_as_uint(f); d[1] = __float_as_uint(m);
        }
        """;

    static uint[] Unary(string kernel, float[] a)
    {
        var k = PtxCompile.Kernel("numerics_test.cu", Source, kernel);
        var dev = new PtxTestDevice();
        ulong pa = dev.Upload(a, "a"), pd = dev.Output<uint>(a.Length, "d");
        dev.Launch(k, new PtxDim3((a.Length + 63) / 64), new PtxDim3(64), pa, pd, a.Length);
        return dev.Download<uint>(pd, a.Length);
    }

    static uint[] Binary(string kernel, float[] a, float[] b)
    {
        var k = PtxCompile.Kernel("numerics_test.cu", Source, kernel);
        var dev = new PtxTestDevice();
        ulong pa = dev.Upload(a, "a"), pb = dev.Upload(b, "b"), pd = dev.Output<uint>(a.Length, "d");
        dev.Launch(k, new PtxDim3((a.Length + 63) / 64), new PtxDim3(64), pa, pb, pd, a.Length);
        return dev.Download<uint>(pd, a.Length);
    }

    static float F(uint u) => BitConverter.UInt32BitsToSingle(u);

    [PtxFact]
    public void CvtRnF16RoundsTiesToEvenAndOverflowsToInfinity()
    {
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: to even (1.0); 1 + 3*2^-11 halfway up: to 1 + 2^-9.
        // 65519.996 < 65520 rounds down to 65504; 65520 (halfway to 65536) rounds to even = overflow -> inf.
        float[] a = [1f + MathF.Pow(2, -11), 1f + 3 * MathF.Pow(2, -11), 65519.99f, 65520f, -65520f, 1e-8f, 6e-8f, float.NaN, 5.9604645e-8f * 1.5f];
        ushort[] want = [0x3C00, 0x3C02, 0x7BFF, 0x7C00, 0xFC00, 0x0000, 0x0001, 0x7E00, 0x0002];
        var d = Unary("n_cvt_f16", a);
        for (int i = 0; i < a.Length; i++)
        {
            if (float.IsNaN(a[i])) { Assert.True((d[i] & 0x7C00) == 0x7C00 && (d[i] & 0x3FF) != 0, "NaN stays NaN"); continue; }
            Assert.True(want[i] == d[i], $"cvt.rn.f16.f32({a[i]:R}) = 0x{d[i]:x4}, expected 0x{want[i]:x4}");
        }
    }

    [PtxFact]
    public void CvtRnBf16RoundsTiesToEven()
    {
        // bf16 keeps 8 significant bits: 1 + 2^-8 is a tie -> 1.0; 1 + 3*2^-8 a tie -> 1 + 2^-6
        float[] a = [1f + MathF.Pow(2, -8), 1f + 3 * MathF.Pow(2, -8), -2.5f, float.PositiveInfinity];
        ushort[] want = [0x3F80, 0x3F82, 0xC020, 0x7F80];
        var d = Unary("n_cvt_bf16", a);
        for (int i = 0; i < a.Length; i++) Assert.True(want[i] == d[i], $"cvt.rn.bf16.f32({a[i]}) = 0x{d[i]:x4}, expected 0x{want[i]:x4}");
    }

    [PtxFact]
    public void CvtToIntegerRoundsAsNamedAndSaturates()
    {
        var r = Unary("n_cvt_rni_s32", [2.5f, 3.5f, -2.5f, 3e9f, -3e9f, float.NaN]);
        Assert.Equal(new[] { 2, 4, -2, int.MaxValue, int.MinValue, 0 }, r.Select(u => (int)u).ToArray());
        var z = Unary("n_cvt_rzi_u32", [2.9f, -1.5f, 5e9f]);
        Assert.Equal(new uint[] { 2, 0, uint.MaxValue }, z);
    }

    [PtxFact]
    public void FmaIsFusedAndMulAddIsNot()
    {
        // a*b = 1 - 2^-46 exactly; rounded to f32 it is 1, so mul+add gives 0 while fma gives -2^-46.
        var k = PtxCompile.Kernel("numerics_test.cu", Source, "fma_vs_mul_add");
        var dev = new PtxTestDevice();
        float a = 1f + MathF.Pow(2, -23), b = 1f - MathF.Pow(2, -23);
        ulong pa = dev.Upload(new[] { a }, "a"), pb = dev.Upload(new[] { b }, "b"), pc = dev.Upload(new[] { -1f }, "c");
        ulong pd = dev.Output<uint>(2, "d");
        dev.Launch(k, new PtxDim3(1), new PtxDim3(1), pa, pb, pc, pd);
        var d = dev.Download<uint>(pd, 2);
        Assert.Equal(-MathF.Pow(2, -46), F(d[0]));
        Assert.Equal(0f, F(d[1]));
    }

    [PtxFact]
    public void FtzFlushesSubnormalsOnlyWithFtz()
    {
        float sub = 1e-40f;
        Assert.True(float.IsSubnormal(sub));
        // -sub + -0: flushed to -0 + -0 = -0 (the sign survives); without ftz it is -sub
        var ftz = Binary("n_add_ftz", [sub, -sub, 1e-38f], [0f, -0f, -0.99e-38f]);
        var rn = Binary("n_add_rn", [sub, -sub, 1e-38f], [0f, -0f, -0.99e-38f]);
        Assert.Equal(0u, ftz[0]);
        Assert.Equal(0x8000_0000u, ftz[1]);                 // sign-preserving zero
        Assert.Equal(0u, ftz[2] & 0x7FFF_FFFF);              // subnormal result flushed too
        Assert.Equal(sub, F(rn[0]));
        Assert.Equal(-sub, F(rn[1]));
        Assert.True(float.IsSubnormal(F(rn[2])));
    }

    [PtxFact]
    public void SatClampsToZeroOneAndNanToZero()
    {
        var d = Unary("n_sat", [-3f, 0.25f, 7f, float.NaN, float.PositiveInfinity]);
        Assert.Equal(new[] { 0f, 0.25f, 1f, 0f, 1f }, d.Select(F).ToArray());
    }

    [PtxFact]
    public void SetpOrderedComparisonsAreFalseOnNanAndUnorderedTrue()
    {
        float nan = float.NaN;
        var d = Binary("n_setp_all", [1f, 2f, nan, 1f, nan], [2f, 2f, 1f, nan, nan]);
        // bits: lt, ltu, eq, ne, neu, num, nan, geu
        Assert.Equal(1u | 2 | 8 | 16 | 32, d[0]);          // 1 vs 2
        Assert.Equal(4u | 32 | 128, d[1]);                   // 2 vs 2
        foreach (int i in new[] { 2, 3, 4 })
            Assert.Equal(2u | 16 | 64 | 128, d[i]);          // any NaN: only the unordered ones and nan
    }

    [PtxFact]
    public void MinMaxReturnTheNonNanOperand()
    {
        float nan = float.NaN;
        var mn = Binary("n_min_f", [nan, 1f, nan, -0f, 3f], [1f, nan, nan, 0f, -4f]);
        var mx = Binary("n_max_f", [nan, 1f, nan, -0f, 3f], [1f, nan, nan, 0f, -4f]);
        Assert.Equal(1f, F(mn[0]));
        Assert.Equal(1f, F(mn[1]));
        Assert.True(float.IsNaN(F(mn[2])));
        Assert.Equal(0x8000_0000u, mn[3]);                  // -0 < +0
        Assert.Equal(-4f, F(mn[4]));
        Assert.Equal(1f, F(mx[0]));
        Assert.Equal(1f, F(mx[1]));
        Assert.True(float.IsNaN(F(mx[2])));
        Assert.Equal(0u, mx[3]);
        Assert.Equal(3f, F(mx[4]));
    }

    [PtxFact]
    public void DivRnIsCorrectlyRounded()
    {
        var rng = new Random(2);
        var a = Enumerable.Range(0, 256).Select(_ => (rng.NextSingle() - 0.5f) * 1e3f).ToArray();
        var b = Enumerable.Range(0, 256).Select(_ => (rng.NextSingle() + 0.01f) * 7f).ToArray();
        var d = Binary("n_div_rn", a, b);
        for (int i = 0; i < a.Length; i++) Assert.Equal((float)((double)a[i] / b[i]), F(d[i]));
    }

    /// <summary>The .approx functions within the ISA's stated maximum errors (9.7.3.x "ex2", "lg2", "rsqrt", "rcp", "sin", "cos").</summary>
    [PtxFact]
    public void ApproxFunctionsAreWithinTheIsaBounds()
    {
        var rng = new Random(9);
        var x = Enumerable.Range(0, 512).Select(_ => (rng.NextSingle() - 0.5f) * 60f).ToArray();
        var pos = x.Select(v => MathF.Abs(v) + 1e-3f).ToArray();
        var small = x.Select(v => v / 10f).ToArray();   // sin/cos bound holds in [-pi, pi]... we use |x| <= 3
        void Rel(string k, float[] a, Func<double, double> f, double bound)
        {
            var d = Unary(k, a);
            for (int i = 0; i < a.Length; i++)
            {
                double want = f(a[i]);
                Assert.True(Math.Abs(F(d[i]) - want) <= bound * Math.Abs(want), $"{k}({a[i]}) = {F(d[i])}, exact {want}");
            }
        }
        void Abs(string k, float[] a, Func<double, double> f, double bound)
        {
            var d = Unary(k, a);
            for (int i = 0; i < a.Length; i++)
                Assert.True(Math.Abs(F(d[i]) - f(a[i])) <= bound, $"{k}({a[i]}) = {F(d[i])}, exact {f(a[i])}");
        }
        Rel("n_ex2", x, v => Math.Pow(2, v), Math.Pow(2, -22));        // ISA: max relative error 2^-22 (ulp-level)
        Abs("n_lg2", pos, Math.Log2, Math.Pow(2, -22));                // ISA: max absolute error 2^-22.6 in the mantissa range
        Rel("n_rsqrt", pos, v => 1 / Math.Sqrt(v), Math.Pow(2, -22.9));
        Rel("n_rcp", x, v => 1 / v, Math.Pow(2, -23));
        Abs("n_sin", small, Math.Sin, Math.Pow(2, -20.9));             // ISA: max absolute error 2^-20.9 in [-pi, pi]
        Abs("n_cos", small, Math.Cos, Math.Pow(2, -20.9));
        // special values: ex2(-inf) = +0, lg2(0) = -inf, rsqrt(+0) = +inf
        Assert.Equal(0u, Unary("n_ex2", [float.NegativeInfinity])[0]);
        Assert.Equal(float.NegativeInfinity, F(Unary("n_lg2", [0f])[0]));
        Assert.Equal(float.PositiveInfinity, F(Unary("n_rsqrt", [0f])[0]));
    }
}
