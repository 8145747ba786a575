using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cpu.Bf16;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu.Bf16;

/// <summary>
/// The bf16 GEMM against references on random inputs. Two bounds, both derived rather than tuned:
/// - against the exact product of the bf16-rounded inputs (computed in double): the only error left is the float32
///   accumulation, at most about 2 roundings per k (vdpbf16ps adds two products per step), so
///   |C - ref| &lt;= 2 (K + 1) 2^-24 (sum_k |a_k b_k| + |c0|). Tight enough that a dropped or doubled k term fails.
/// - against the float32 GEMM (the reference backend): rounding a and b to bf16 (unit roundoff u = 2^-8) moves
///   each product by at most (2u + u^2) |a b|, plus both sides' float32 accumulation.
/// </summary>
public class Bf16GemmTests
{
    private const double U = 1.0 / 256;           // bf16 unit roundoff: 8 significant bits, so half an ulp is at most 2^-8 of the value
    private const double F32 = 1.0 / (1 << 24);   // float32 unit roundoff

    private static float Bf(float x) => Bf16Round.ToFloat(Bf16Round.Round(x));

    private sealed record Case(int M, int K, int N, float[] A, float[] B, float[] C0);

    private static Case Make(int m, int k, int n, int seed)
        => new(m, k, n, Random(seed, (long)m * k, 2f), Random(seed + 1, (long)k * n), Random(seed + 2, (long)m * n));

    /// <summary>C0 + A · B by the bf16 GEMM (B packed from [K, N] row-major, A read in place with stride K).</summary>
    private static float[] RunBf16(Case t, float[]? a = null)
    {
        var c = (float[])t.C0.Clone();
        var b = Bf16PackedMatrix.From(PackedMatrix.FromStrided(t.B, 0, t.K, t.N, t.N, 1));
        b.MultiplyAdd(t.M, new DirectA(a ?? t.A, 0, t.K), c, 0, t.N);
        return c;
    }

    /// <summary>Exact C0 + bf16(A) · bf16(B), and the per-element sum of |terms| for the bounds.</summary>
    private static (double[] Ref, double[] Abs) Exact(Case t, bool roundInputs)
    {
        var r = new double[t.M * t.N];
        var s = new double[t.M * t.N];
        for (int i = 0; i < t.M; i++)
            for (int j = 0; j < t.N; j++)
            {
                double acc = t.C0[i * t.N + j], abs = 0;
                for (int q = 0; q < t.K; q++)
                {
                    double a = t.A[i * t.K + q], b = t.B[q * t.N + j];
                    if (roundInputs) { a = Bf((float)a); b = Bf((float)b); }
                    acc += a * b;
                    abs += Math.Abs(a * b);
                }
                r[i * t.N + j] = acc;
                s[i * t.N + j] = abs;
            }
        return (r, s);
    }

    /// <summary>The worst |got - ref| / bound over C, where bound = perTerm * abs + accum * (abs + |c0|); &lt;= 1 passes.</summary>
    private static double WorstRatio(float[] got, double[] reference, double[] abs, float[] c0, double perTerm, double accum)
    {
        double worst = 0;
        for (int i = 0; i < got.Length; i++)
        {
            double bound = perTerm * abs[i] + accum * (abs[i] + Math.Abs(c0[i])) + 1e-30;
            double r = Math.Abs(got[i] - reference[i]) / bound;
            if (!(r <= worst)) worst = r;  // NaN counts as the worst
        }
        return worst;
    }

    [Bf16Theory]
    [InlineData(1, 1, 1)]        // one k: a lone half-filled pair
    [InlineData(14, 64, 32)]     // exactly one micro-tile
    [InlineData(13, 3, 5)]       // every edge: rows, columns, odd K
    [InlineData(15, 257, 33)]    // K one past a K block, N one past a panel, M one past a micro-tile
    [InlineData(113, 301, 70)]   // M one past an M block, odd K across two K blocks
    [InlineData(200, 31, 17)]    // many M blocks (threads), small K and N
    [InlineData(30, 640, 320)]   // a UNet-like width
    public void Matches_the_exact_product_of_the_rounded_inputs(int m, int k, int n)
    {
        var t = Make(m, k, n, 100 + m + k + n);
        var got = RunBf16(t);
        var (reference, abs) = Exact(t, roundInputs: true);
        double ratio = WorstRatio(got, reference, abs, t.C0, 0, 2.0 * (k + 1) * F32);
        Assert.True(ratio <= 1, $"{m}x{k}x{n}: error {ratio:F2} x the float32 accumulation bound");
    }

    [Bf16Theory]
    [InlineData(13, 3, 5)]
    [InlineData(113, 301, 70)]
    [InlineData(30, 640, 320)]
    public void Matches_the_float32_gemm_within_bf16_rounding(int m, int k, int n)
    {
        var t = Make(m, k, n, 7 * m + k + n);
        var got = RunBf16(t);
        var fp32 = (float[])t.C0.Clone();
        PackedMatrix.FromStrided(t.B, 0, k, n, n, 1).MultiplyAdd(m, new DirectA(t.A, 0, k), fp32, 0, n);
        var (_, abs) = Exact(t, roundInputs: false);
        double ratio = WorstRatio(got, Array.ConvertAll(fp32, v => (double)v), abs, t.C0, 2 * U + U * U, 4.0 * (k + 1) * F32);
        Assert.True(ratio <= 1, $"{m}x{k}x{n}: error {ratio:F2} x the bf16 rounding bound");
        // And bf16 is really in use: float32 agrees far more closely than the bf16 bound allows.
        double rel = Metrics.RelativeL2(got, fp32);
        Assert.True(rel > 1e-4, $"relative L2 {rel:E2} to float32 is too small for bf16 inputs");
    }

    [Bf16Fact]
    public void The_bound_catches_a_dropped_k_tail()
    {
        // The same check fails on the product with A's last column dropped (what a kernel losing the odd K tail
        // would compute): proof that the tight bound can fail.
        var t = Make(15, 257, 33, 3);
        var dropped = (float[])t.A.Clone();
        for (int i = 0; i < t.M; i++) dropped[i * t.K + t.K - 1] = 0;
        var got = RunBf16(t, dropped);
        var (reference, abs) = Exact(t, roundInputs: true);
        Assert.True(WorstRatio(got, reference, abs, t.C0, 0, 2.0 * (t.K + 1) * F32) > 1);
    }

    [Bf16Fact]
    public void Deterministic_across_runs()
    {
        var t = Make(300, 700, 96, 11);
        Assert.Equal(RunBf16(t), RunBf16(t));
    }

    [Bf16Fact]
    public void Conv_and_linear_of_the_bf16_backend_are_within_bf16_rounding_of_float32()
    {
        // Through the public ops (so the conv gather path is covered): the bound's sum of |terms| per output is
        // the float32 conv of |x| and |w| with no bias.
        using var fp32 = new CpuOps();
        using var bf16 = new CpuOps(CpuPrecision.Bf16);
        var x = RandomCpu(21, [1, 9, 11, 37], 2f);
        var w = RandomHost(22, [45, 37, 3, 3]);
        var bias = RandomHost(23, [45]);
        var pad = new PiSa.Engine.Backends.Pad2d(1, 1, 1, 1);
        var want = (CpuTensor)fp32.Conv2d(x, w, bias, 2, pad);
        var got = (CpuTensor)bf16.Conv2d(x, w, bias, 2, pad);
        var absX = new CpuTensor(x.Shape, Array.ConvertAll(x.Data, Math.Abs));
        var absW = new PiSa.Engine.Tensors.HostTensor(w.Shape, Array.ConvertAll(w.Data, Math.Abs));
        var abs = (CpuTensor)fp32.Conv2d(absX, absW, null, 2, pad);
        double k = 37 * 9;
        double ratio = WorstRatio(got.Data, Array.ConvertAll(want.Data, v => (double)v), Array.ConvertAll(abs.Data, v => (double)v),
            want.Data, 2 * U + U * U, 4 * (k + 1) * F32);
        Assert.True(ratio <= 1, $"conv: error {ratio:F2} x the bf16 rounding bound");

        var lx = RandomCpu(24, [2, 19, 129], 2f);
        var lw = RandomHost(25, [67, 129]);
        var lwant = (CpuTensor)fp32.Linear(lx, lw, null);
        var lgot = (CpuTensor)bf16.Linear(lx, lw, null);
        var labs = (CpuTensor)fp32.Linear(new CpuTensor(lx.Shape, Array.ConvertAll(lx.Data, Math.Abs)),
            new PiSa.Engine.Tensors.HostTensor(lw.Shape, Array.ConvertAll(lw.Data, Math.Abs)), null);
        double lratio = WorstRatio(lgot.Data, Array.ConvertAll(lwant.Data, v => (double)v), Array.ConvertAll(labs.Data, v => (double)v),
            new float[lgot.Data.Length], 2 * U + U * U, 4 * (129 + 1) * F32);
        Assert.True(lratio <= 1, $"linear: error {lratio:F2} x the bf16 rounding bound");
    }
}
