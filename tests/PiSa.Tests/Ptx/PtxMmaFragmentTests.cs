using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>
/// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 pinned to the PTX ISA, section
/// "9.7.14.5.8 Matrix Fragments for mma.m16n8k16 with floating point type" (9.7.13.4.8 in older ISA versions),
/// independently of our kernels: the tables below are the ISA's, written out here; a tiny kernel loads each
/// lane's registers from host-packed arrays, runs one mma and stores D. If the interpreter's layout differed from
/// the ISA's, D would not be A*B+C laid out by the ISA's table.
/// </summary>
public class PtxMmaFragmentTests
{
    const string Source = """
        #define MMA_KERNEL(NAME, TYPES) \
        extern "C" __global__ void NAME(const unsigned* a, const unsigned* b, const float* c, float* d) { \
            int l = threadIdx.x; \
            float d0, d1, d2, d3; \
            asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." TYPES ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};" \
                : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3) \
                : "r"(a[l * 4]), "r"(a[l * 4 + 1]), "r"(a[l * 4 + 2]), "r"(a[l * 4 + 3]), "r"(b[l * 2]), "r"(b[l * 2 + 1]), \
                  "f"(c[l * 4]), "f"(c[l * 4 + 1]), "f"(c[l * 4 + 2]), "f"(c[l * 4 + 3])); \
            d[l * 4] = d0; d[l * 4 + 1] = d1; d[l * 4 + 2] = d2; d[l * 4 + 3] = d3; \
        }
        MMA_KERNEL(mma_f16, "f16.f16")
        MMA_KERNEL(mma_bf16, "bf16.bf16")
        """;

    // The ISA's tables: groupID = laneid >> 2, threadID_in_group = laneid % 4.
    // A (a0..a7, two per .f16x2 register, low half first): row = groupID for a0,a1,a4,a5, else groupID + 8;
    //   col = threadID_in_group * 2 + (i & 1), + 8 for i >= 4.
    static (int Row, int Col) AElem(int lane, int i) =>
        ((i < 2 || (i >= 4 && i < 6)) ? lane >> 2 : (lane >> 2) + 8, (lane % 4) * 2 + (i & 1) + (i >= 4 ? 8 : 0));

    // B (b0..b3): row = threadID_in_group * 2 + (i & 1), + 8 for i >= 2; col = groupID.
    static (int Row, int Col) BElem(int lane, int i) => ((lane % 4) * 2 + (i & 1) + (i >= 2 ? 8 : 0), lane >> 2);

    // C/D (c0..c3): row = groupID for c0,c1, else groupID + 8; col = threadID_in_group * 2 + (i & 1).
    static (int Row, int Col) CElem(int lane, int i) => (i < 2 ? lane >> 2 : (lane >> 2) + 8, (lane % 4) * 2 + (i & 1));

    static ushort Enc(float v, bool bf) => bf
        ? (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)   // test values are exact in bf16
        : BitConverter.HalfToUInt16Bits((Half)v);

    static float[] Run(bool bf, float[,] A, float[,] B, float[,] C)
    {
        var aRegs = new uint[32 * 4];
        var bRegs = new uint[32 * 2];
        var cRegs = new float[32 * 4];
        for (int l = 0; l < 32; l++)
        {
            for (int r = 0; r < 4; r++)
            {
                var (r0, c0) = AElem(l, 2 * r);
                var (r1, c1) = AElem(l, 2 * r + 1);
                aRegs[l * 4 + r] = Enc(A[r0, c0], bf) | ((uint)Enc(A[r1, c1], bf) << 16);
            }
            for (int r = 0; r < 2; r++)
            {
                var (r0, c0) = BElem(l, 2 * r);
                var (r1, c1) = BElem(l, 2 * r + 1);
                bRegs[l * 2 + r] = Enc(B[r0, c0], bf) | ((uint)Enc(B[r1, c1], bf) << 16);
            }
            for (int i = 0; i < 4; i++)
            {
                var (r, c) = CElem(l, i);
                cRegs[l * 4 + i] = C[r, c];
            }
        }
        var k = PtxCompile.Kernel("mma_test.cu", Source, bf ? "mma_bf16" : "mma_f16");
        var dev = new PtxTestDevice();
        ulong pa = dev.Upload(aRegs, "a"), pb = dev.Upload(bRegs, "b"), pc = dev.Upload(cRegs, "c"), pd = dev.Output<float>(128, "d");
        var stats = dev.Launch(k, new PtxDim3(1), new PtxDim3(32), pa, pb, pc, pd);
        Assert.Equal(1, stats.MmaCount);
        return dev.Download<float>(pd, 128);
    }

    [PtxTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void EachDRegisterHoldsTheElementTheIsaTableNames(bool bf)
    {
        // A[m][k] = 16m + k (exact in f16 and bf16); B a permuted one-hot selector: D[m][n] = A[m][perm[n] + 8s]
        var rng = new Random(5);
        var perm = Enumerable.Range(0, 8).OrderBy(_ => rng.Next()).ToArray();
        for (int s = 0; s < 2; s++)
        {
            var A = new float[16, 16];
            var B = new float[16, 8];
            var C = new float[16, 8];
            for (int m = 0; m < 16; m++) for (int kk = 0; kk < 16; kk++) A[m, kk] = 16 * m + kk;
            for (int n = 0; n < 8; n++) B[perm[n] + 8 * s, n] = 1;
            var d = Run(bf, A, B, C);
            for (int l = 0; l < 32; l++)
                for (int i = 0; i < 4; i++)
                {
                    var (row, col) = CElem(l, i);
                    float want = 16 * row + perm[col] + 8 * s;
                    Assert.True(want == d[l * 4 + i],
                        $"{(bf ? "bf16" : "f16")} lane {l} d{i}: holds A element {d[l * 4 + i]} (row {(int)d[l * 4 + i] / 16}), ISA says row {row} col {perm[col] + 8 * s}");
                }
        }
    }

    [PtxTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void RandomProductMatchesAHostGemmThroughTheIsaLayout(bool bf)
    {
        var rng = new Random(bf ? 11 : 7);
        float R(bool half) { float v = rng.NextSingle() * 4 - 2; return half ? Round(v, bf) : v; }
        var A = new float[16, 16];
        var B = new float[16, 8];
        var C = new float[16, 8];
        for (int m = 0; m < 16; m++) for (int k = 0; k < 16; k++) A[m, k] = R(true);
        for (int k = 0; k < 16; k++) for (int n = 0; n < 8; n++) B[k, n] = R(true);
        for (int m = 0; m < 16; m++) for (int n = 0; n < 8; n++) C[m, n] = R(false);
        var d = Run(bf, A, B, C);
        for (int l = 0; l < 32; l++)
            for (int i = 0; i < 4; i++)
            {
                var (row, col) = CElem(l, i);
                double want = C[row, col];
                double mag = Math.Abs(C[row, col]);
                for (int k = 0; k < 16; k++) { want += (double)A[row, k] * B[k, col]; mag += Math.Abs((double)A[row, k] * B[k, col]); }
                // the tensor core's internal accumulation rounds differently from ours: allow a few f32 ulps of the magnitude
                Assert.True(Math.Abs(d[l * 4 + i] - want) <= 4e-7 * mag + 1e-30, $"lane {l} d{i} (row {row}, col {col}): {d[l * 4 + i]} vs {want}");
            }
    }

    [PtxFact]
    public void WithAZeroAEveryDRegisterIsItsCRegister()
    {
        var rng = new Random(3);
        var C = new float[16, 8];
        for (int m = 0; m < 16; m++) for (int n = 0; n < 8; n++) C[m, n] = rng.NextSingle() * 100 - 50;
        var d = Run(false, new float[16, 16], new float[16, 8], C);
        for (int l = 0; l < 32; l++)
            for (int i = 0; i < 4; i++)
            {
                var (row, col) = CElem(l, i);
                Assert.Equal(C[row, col], d[l * 4 + i]);
            }
    }

    static float Round(float v, bool bf) => bf
        ? BitConverter.UInt32BitsToSingle((BitConverter.SingleToUInt32Bits(v) + 0x8000u) & 0xFFFF0000u)
        : (float)(Half)v;
}
