using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>
/// ldmatrix and shfl pinned to the PTX ISA text, with tiny kernels of inline PTX (not our kernels).
/// ldmatrix: "Warp-level matrix load instruction: ldmatrix" (9.7.14.5.15 in ISA 9.x): threads 0-7 give the row
/// addresses of matrix 0, 8-15 of matrix 1, 16-23 of matrix 2, 24-31 of matrix 3 (.x1 uses 0-7, .x2 0-15); each
/// 8x8 b16 matrix is spread so that four consecutive threads hold one row: thread l holds, in the destination
/// register of matrix q, row l/4, elements 2(l%4) and 2(l%4)+1; .trans delivers the transposed matrix.
/// shfl: "Data Movement and Conversion Instructions: shfl.sync" (9.7.9.6): modes up/down/bfly/idx, operand c
/// packs the clamp value (bits 0-4) and the segment mask (bits 8-12); p is false when the source lane is out of
/// range, and then the lane gets its own value.
/// </summary>
public class PtxWarpSemanticsTests
{
    const string LdmSource = """
        __device__ __forceinline__ void fill(unsigned short* s, const unsigned short* src, int l) {
            for (int i = l; i < 32 * 8; i += 32) s[i] = src[i];
            __syncwarp();
        }
        extern "C" __global__ void ldm_x1(const unsigned short* src, const int* rowOf, unsigned* out, int trans) {
            __shared__ __align__(16) unsigned short s[32 * 8];
            int l = threadIdx.x; fill(s, src, l);
            unsigned a = (unsigned)__cvta_generic_to_shared(&s[rowOf[l] * 8]), r0;
            if (trans) asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];" : "=r"(r0) : "r"(a));
            else asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(r0) : "r"(a));
            out[l * 4] = r0;
        }
        extern "C" __global__ void ldm_x2(const unsigned short* src, const int* rowOf, unsigned* out, int trans) {
            __shared__ __align__(16) unsigned short s[32 * 8];
            int l = threadIdx.x; fill(s, src, l);
            unsigned a = (unsigned)__cvta_generic_to_shared(&s[rowOf[l] * 8]), r0, r1;
            if (trans) asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];" : "=r"(r0), "=r"(r1) : "r"(a));
            else asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];" : "=r"(r0), "=r"(r1) : "r"(a));
            out[l * 4] = r0; out[l * 4 + 1] = r1;
        }
        extern "C" __global__ void ldm_x4(const unsigned short* src, const int* rowOf, unsigned* out, int trans) {
            __shared__ __align__(16) unsigned short s[32 * 8];
            int l = threadIdx.x; fill(s, src, l);
            unsigned a = (unsigned)__cvta_generic_to_shared(&s[rowOf[l] * 8]), r0, r1, r2, r3;
            if (trans) asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(a));
            else asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(a));
            out[l * 4] = r0; out[l * 4 + 1] = r1; out[l * 4 + 2] = r2; out[l * 4 + 3] = r3;
        }
        """;

    [PtxTheory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(4, false)]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(4, true)]
    public void LdmatrixRegistersHoldTheRowsTheIsaNames(int n, bool trans)
    {
        // Row r of matrix q is given by lane 8q + r and stored at a shuffled shared row rowOf[8q + r];
        // its element c holds the code 64q + 8r + c.
        var rng = new Random(n * 10 + (trans ? 1 : 0));
        var rowOf = Enumerable.Range(0, 32).OrderBy(_ => rng.Next()).ToArray();
        var src = new ushort[32 * 8];
        for (int q = 0; q < 4; q++)
            for (int r = 0; r < 8; r++)
                for (int c = 0; c < 8; c++)
                    src[rowOf[8 * q + r] * 8 + c] = (ushort)(64 * q + 8 * r + c);
        var k = PtxCompile.Kernel("ldmatrix_test.cu", LdmSource, $"ldm_x{n}");
        var dev = new PtxTestDevice();
        ulong ps = dev.Upload(src, "src"), pr = dev.Upload(rowOf, "rowOf"), po = dev.Output<uint>(128, "out");
        dev.Memory.Fill(po, 0, 128 * 4);
        dev.Launch(k, new PtxDim3(1), new PtxDim3(32), ps, pr, po, trans ? 1 : 0);
        var o = dev.Download<uint>(po, 128);
        for (int l = 0; l < 32; l++)
            for (int q = 0; q < n; q++)
            {
                uint v = o[l * 4 + q];
                int lo, hi;
                if (!trans) { lo = 64 * q + 8 * (l / 4) + 2 * (l % 4); hi = lo + 1; }
                else { lo = 64 * q + 8 * (2 * (l % 4)) + l / 4; hi = 64 * q + 8 * (2 * (l % 4) + 1) + l / 4; }
                Assert.True((v & 0xFFFF) == lo && (v >> 16) == hi,
                    $"x{n}{(trans ? ".trans" : "")} lane {l} reg {q}: got ({v & 0xFFFF}, {v >> 16}), ISA says ({lo}, {hi})");
            }
    }

    const string ShflSource = """
        #define SHFL_KERNEL(NAME, MODE) \
        extern "C" __global__ void NAME(const int* b, const int* c, unsigned* out, int* pred, int cases) { \
            int l = threadIdx.x; \
            for (int k = 0; k < cases; k++) { \
                unsigned v = 100u + l, r; int p; \
                asm volatile("{ .reg .pred q; shfl.sync." MODE ".b32 %0|q, %2, %3, %4, 0xffffffff; selp.s32 %1, 1, 0, q; }" \
                    : "=r"(r), "=r"(p) : "r"(v), "r"(b[k]), "r"(c[k])); \
                out[k * 32 + l] = r; pred[k * 32 + l] = p; \
            } \
        }
        SHFL_KERNEL(shfl_up, "up")
        SHFL_KERNEL(shfl_down, "down")
        SHFL_KERNEL(shfl_bfly, "bfly")
        SHFL_KERNEL(shfl_idx, "idx")
        """;

    /// <summary>c for a CUDA width w: up uses ((32 - w) &lt;&lt; 8), the others ((32 - w) &lt;&lt; 8) | 0x1f.</summary>
    static int C(int width, bool up) => ((32 - width) << 8) | (up ? 0 : 0x1f);

    // (source lane or -1 for "own value, p = false") as the CUDA/PTX documentation states each case
    public static TheoryData<string, int, int, int> Cases() => new()
    {
        // mode, b, width, case id (expected values computed per case below)
        { "up", 3, 32, 0 }, { "up", 1, 8, 1 }, { "down", 5, 32, 2 }, { "down", 2, 8, 3 },
        { "bfly", 1, 32, 4 }, { "bfly", 16, 32, 5 }, { "bfly", 4, 8, 6 }, { "idx", 7, 32, 7 }, { "idx", 3, 8, 8 },
        { "idx", 40, 32, 9 },
    };

    static int Expected(string mode, int b, int width, int lane)
    {
        int seg = lane / width * width, pos = lane % width;
        return mode switch
        {
            "up" => pos >= b ? lane - b : -1,                               // lanes below b in their segment keep their value
            "down" => pos + b < width ? lane + b : -1,                      // lanes within b of the segment end keep theirs
            "bfly" => (pos ^ b) < width ? seg + (pos ^ b) : -1,             // xor inside the segment
            _ => seg + (b % width),                                         // idx: lane b (mod width) of the segment
        };
    }

    [PtxTheory]
    [MemberData(nameof(Cases))]
    public void ShflModesAndClampsReturnWhatTheIsaSays(string mode, int b, int width, int id)
    {
        var k = PtxCompile.Kernel("shfl_test.cu", ShflSource, "shfl_" + mode);
        var dev = new PtxTestDevice();
        ulong pb = dev.Upload(new[] { b }, "b"), pc = dev.Upload(new[] { C(width, mode == "up") }, "c");
        ulong po = dev.Output<uint>(32, "out"), pp = dev.Output<int>(32, "pred");
        dev.Launch(k, new PtxDim3(1), new PtxDim3(32), pb, pc, po, pp, 1);
        var o = dev.Download<uint>(po, 32);
        var p = dev.Download<int>(pp, 32);
        for (int l = 0; l < 32; l++)
        {
            int src = Expected(mode, b, width, l);
            Assert.True(o[l] == 100 + (src < 0 ? l : src) && p[l] == (src < 0 ? 0 : 1),
                $"case {id}: shfl.{mode} b={b} width={width} lane {l}: got {o[l] - 100} p={p[l]}, expected {(src < 0 ? l : src)} p={(src < 0 ? 0 : 1)}");
        }
    }
}
