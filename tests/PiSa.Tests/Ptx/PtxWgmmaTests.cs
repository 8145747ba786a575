using System.Text;
using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>
/// wgmma (sm_90 warpgroup MMA) on the interpreter, pinned to the PTX ISA independently of our kernels: CUDA C with
/// inline-asm wgmma compiled for compute_90 (NVRTC passes inline PTX through unchecked), operands laid out in shared
/// memory by this test from the ISA's "Shared Memory Matrix Layout" (core matrices of 8 rows x 16 bytes, LBO along
/// K, SBO along M/N in the no-swizzle mode) and the accumulator read back through the ISA's D fragment table
/// (written out here), compared with a product computed here. Then every protocol check, each shown to fire.
/// </summary>
public class PtxWgmmaTests
{
    // kernel flags: each breaks one rule of the wgmma protocol
    const int NoFence = 1, ReadBeforeWait = 2, OverwriteBeforeWait = 4, NoProxyFence = 8, FenceOnce = 16, Pipelined = 32,
        NeverWait = 64, NonUniformDesc = 128, OtherGroupWrites = 256, WriteInFlight = 512, OneThreadExits = 1024;

    internal sealed record Variant(int N, bool Bf = false, int ScaleA = 1, int ScaleB = 1, int TransA = 0, int TransB = 0)
    {
        public string Name => $"wg_n{N}_{(Bf ? "bf16" : "f16")}_a{(ScaleA < 0 ? "m" : "p")}b{(ScaleB < 0 ? "m" : "p")}_t{TransA}{TransB}";
    }

    /// <summary>One kernel per shape and immediates: copy the host-made shared image in, run `steps` wgmma into one accumulator.</summary>
    static string Source(Variant v)
    {
        int nh = v.N / 2;
        string t = v.Bf ? "bf16" : "f16";
        var regs = string.Join(", ", Enumerable.Range(0, nh).Select(i => $"%{i}"));
        var outs = string.Join(", ", Enumerable.Range(0, nh).Select(i => $"\"+f\"(d[{i}])"));
        var sb = new StringBuilder();
        sb.Append($$"""
            extern "C" __global__ void {{v.Name}}(const uint4* img, int imgBytes, unsigned long long descA, unsigned long long descB,
                int aOff, int bOff, int aStep, int bStep, int steps, int flags, float* out)
            {
                extern __shared__ uint4 smem[];
                int tid = threadIdx.x;
                for (int i = tid; i < imgBytes / 16; i += blockDim.x) smem[i] = img[i];
                if (!(flags & {{NoProxyFence}})) asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
                __syncthreads();
                unsigned base = (unsigned)__cvta_generic_to_shared(smem);
                float d[{{nh}}];
            #pragma unroll
                for (int i = 0; i < {{nh}}; i++) d[i] = 1000.0f + i;    // scale-d = 0 on the first step must discard these
                if ((flags & {{OneThreadExits}}) && tid == 5) return;
                for (int s = 0; s < steps; s++) {
                    unsigned long long da = descA | (((base + aOff + s * aStep) & 0x3FFFF) >> 4);
                    unsigned long long db = descB | (((base + bOff + s * bStep) & 0x3FFFF) >> 4);
                    if ((flags & {{NonUniformDesc}}) && tid == 37) da += 1;
                    if ((flags & {{OtherGroupWrites}}) && tid >= 128 && tid < 192) {   // the second warpgroup rewrites A, fenced
                        uint4* a = (uint4*)((char*)smem + aOff + s * aStep);
                        a[tid - 128] = make_uint4(0x3c003c00u, 0x3c003c00u, 0x3c003c00u, 0x3c003c00u);
                        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
                    }
                    if (!(flags & {{NoFence}}) && !((flags & {{FenceOnce}}) && s > 0)) asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
                    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %{{nh + 2}}, 0;\n"
                        "wgmma.mma_async.sync.aligned.m64n{{v.N}}k16.f32.{{t}}.{{t}} {{{regs}}}, %{{nh}}, %{{nh + 1}}, p, {{v.ScaleA}}, {{v.ScaleB}}, {{v.TransA}}, {{v.TransB}};\n}\n"
                        : {{outs}} : "l"(da), "l"(db), "r"(s > 0 ? 1 : 0) : "memory");
                    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
                    if (flags & {{WriteInFlight}}) asm volatile("mov.f32 %0, 0f40A00000;" : "=f"(d[1]));
                    if ((flags & {{OverwriteBeforeWait}}) && tid < 64) {
                        uint4* a = (uint4*)((char*)smem + aOff + s * aStep);
                        a[tid] = make_uint4(0x3c003c00u, 0x3c003c00u, 0x3c003c00u, 0x3c003c00u);
                    }
                    if (flags & {{Pipelined}}) asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
                    else if (!(flags & {{ReadBeforeWait | NeverWait}})) asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
                }
                if (flags & {{Pipelined}}) asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
            #pragma unroll
                for (int i = 0; i < {{nh}}; i++) out[tid * {{nh}} + i] = d[i];
                if (flags & {{ReadBeforeWait}}) asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
            }

            """);
        return sb.ToString();
    }

    static PtxKernel Kernel(Variant v) => PtxCompile.Module90(v.Name + ".cu", Source(v)).GetKernel(v.Name);

    // The ISA's no-swizzle layout of a 2-byte operand, row mn (M for A, N for B) and column k of one k16 step:
    // K-major: core matrix (mn / 8, k / 8) holds 8 rows mn of 8 consecutive k (16 bytes each, rows 16 bytes apart);
    // MN-major: its 8 rows are 8 consecutive k, each holding 8 consecutive mn. Core matrices: SBO apart along M/N,
    // LBO apart along K.
    static int Offset(bool mnMajor, int lbo, int sbo, int mn, int k) =>
        (mn / 8) * sbo + (k / 8) * lbo + (mnMajor ? (k % 8) * 16 + (mn % 8) * 2 : (mn % 8) * 16 + (k % 8) * 2);

    // A: the two k halves 1024 bytes apart, row groups 128 apart; B: k halves adjacent (128), column groups 256 apart
    const int ALbo = 1024, ASbo = 128, AStepBytes = 2048, BLbo = 128, BSbo = 256;

    static ulong Desc(int lbo, int sbo) => ((ulong)(lbo >> 4) << 16) | ((ulong)(sbo >> 4) << 32);

    internal sealed class Run
    {
        public required float[][,] A, B;      // per step: A[m, k] (64 x 16), B[k, n] (16 x N), exact in the input type
        public required float[] Out;
        public required PtxLaunchStats Stats;
    }

    static ushort Enc(float v, bool bf) => bf ? (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16) : BitConverter.HalfToUInt16Bits((Half)v);

    static float Round(float v, bool bf) => bf
        ? BitConverter.UInt32BitsToSingle((BitConverter.SingleToUInt32Bits(v) + 0x8000u) & 0xFFFF0000u)
        : (float)(Half)v;

    /// <summary>
    /// Where one operand lives: Off(step, mn, k) its element's byte offset in the operand's region (Bytes long), the
    /// descriptor without its start address, and how far the start address moves per k16 step.
    /// </summary>
    internal sealed record Layout(Func<int, int, int, int> Off, int Bytes, ulong Desc, int Advance);

    static Layout NoSwizzle(bool mnMajor, int lbo, int sbo, int stepBytes, int steps) =>
        new((s, mn, k) => s * stepBytes + Offset(mnMajor, lbo, sbo, mn, k), steps * stepBytes, Desc(lbo, sbo), stepBytes);

    // The ISA's swizzled layouts (S = 32, 64 or 128 bytes; the figures of "Shared Memory Matrix Layout"): a swizzle
    // atom is 8 rows of S bytes, 8 S bytes aligned; the 16-byte chunk c of row r is stored at chunk c ^ (r S / 128).
    static int Swz(int r, int c, int S) => c ^ (r * S / 128);

    static ulong SwizzleBits(int S) => (ulong)(S == 128 ? 1 : S == 64 ? 2 : 3) << 62;

    /// <summary>K-major, swizzled: row mn holds S / 2 consecutive k; the k16 steps lie in one atom, 32 bytes apart (LBO unused).</summary>
    static Layout KMajorSwizzled(int S, int rows) => new((s, mn, k) =>
    {
        int kk = 16 * s + k, r = mn % 8;
        return (mn / 8) * 8 * S + r * S + Swz(r, kk / 8, S) * 16 + (kk % 8) * 2;
    }, rows * S, Desc(16, 8 * S) | SwizzleBits(S), 32);

    /// <summary>MN-major, swizzled: row k holds S / 2 consecutive mn; 8 rows, then SBO to the next 8 k; LBO to the next S / 2 mn.</summary>
    static Layout MnMajorSwizzled(int S, int rows, int steps)
    {
        int lbo = 16 * S, sbo = 8 * S, step = rows / (S / 2) * lbo;
        return new((s, mn, k) =>
        {
            int r = k % 8, e = mn % (S / 2);
            return s * step + (mn / (S / 2)) * lbo + (k / 8) * sbo + r * S + Swz(r, e / 8, S) * 16 + (e % 8) * 2;
        }, steps * step, Desc(lbo, sbo) | SwizzleBits(S), step);
    }

    /// <summary>Lays out random operands for `steps` k16 steps, runs the kernel, returns the operands and D as stored per thread.</summary>
    static Run Launch(Variant v, int steps = 1, int flags = 0, int threads = 128, bool checks = true, ulong? descA = null,
        ulong? descB = null, int? imgBytes = null, int bOffExtra = 0, int seed = 1, Layout? la = null, Layout? lb = null)
    {
        var rng = new Random(seed * 7919 + v.N);
        la ??= NoSwizzle(v.TransA != 0, ALbo, ASbo, AStepBytes, steps);
        lb ??= NoSwizzle(v.TransB != 0, BLbo, BSbo, 32 * v.N, steps);
        int bOff = (la.Bytes + 1023) / 1024 * 1024, total = bOff + lb.Bytes;   // swizzle patterns repeat every 1024 bytes at most
        var img = new byte[total];
        var A = new float[steps][,];
        var B = new float[steps][,];
        for (int s = 0; s < steps; s++)
        {
            A[s] = new float[64, 16];
            B[s] = new float[16, v.N];
            for (int m = 0; m < 64; m++)
                for (int k = 0; k < 16; k++)
                {
                    float x = Round(rng.NextSingle() * 2 - 1, v.Bf);
                    A[s][m, k] = x;
                    BitConverter.TryWriteBytes(img.AsSpan(la.Off(s, m, k)), Enc(x, v.Bf));
                }
            for (int n = 0; n < v.N; n++)
                for (int k = 0; k < 16; k++)
                {
                    float x = Round(rng.NextSingle() * 2 - 1, v.Bf);
                    B[s][k, n] = x;
                    BitConverter.TryWriteBytes(img.AsSpan(bOff + lb.Off(s, n, k)), Enc(x, v.Bf));
                }
        }
        var kernel = Kernel(v);
        var dev = new PtxTestDevice();
        ulong pimg = dev.Upload(img, "image");
        ulong pout = dev.Output<float>(threads * v.N / 2, "out");
        var stats = dev.Launch(kernel, new PtxDim3(1), new PtxDim3(threads), total, new PtxLaunchOptions { Checks = checks, Seed = seed },
            pimg, imgBytes ?? total, descA ?? la.Desc, descB ?? lb.Desc, 0, bOff + bOffExtra, la.Advance, lb.Advance, steps, flags, pout);
        return new Run { A = A, B = B, Out = dev.Download<float>(pout, threads * v.N / 2), Stats = stats };
    }

    // The ISA's accumulator fragment of wgmma .m64nNk16 (f32): thread lane l of warp w of the warpgroup holds
    // d[4j + q] = D[16w + l/4 + 8 (q >= 2)][8j + 2 (l % 4) + (q % 2)], j = 0 .. N/8 - 1.
    static (int M, int N) Fragment(int tidInGroup, int i)
    {
        int w = tidInGroup / 32, l = tidInGroup % 32, j = i / 4, q = i % 4;
        return (16 * w + l / 4 + (q >= 2 ? 8 : 0), 8 * j + 2 * (l % 4) + (q & 1));
    }

    /// <summary>Number of D elements (over every warpgroup) that differ from the product of the operands.</summary>
    static int Mismatches(Variant v, Run r, int threads = 128, List<string>? first = null)
    {
        int nh = v.N / 2, bad = 0;
        for (int t = 0; t < threads; t++)
            for (int i = 0; i < nh; i++)
            {
                var (m, n) = Fragment(t % 128, i);
                double want = 0, mag = 0;
                for (int s = 0; s < r.A.Length; s++)
                    for (int k = 0; k < 16; k++)
                    {
                        double p = (double)v.ScaleA * r.A[s][m, k] * v.ScaleB * r.B[s][k, n];
                        want += p;
                        mag += Math.Abs(p);
                    }
                float got = r.Out[t * nh + i];
                // one f32 rounding per k16 step on our side; the tensor core rounds internally: a few ulps of the magnitude
                if (!(Math.Abs(got - want) <= 1e-6 * mag + 1e-7))
                {
                    if (bad++ == 0) first?.Add($"thread {t} d{i} = D[{m}][{n}]: {got}, expected {want}");
                }
            }
        return bad;
    }

    static void AssertMatches(Variant v, Run r, int threads = 128)
    {
        var first = new List<string>();
        int bad = Mismatches(v, r, threads, first);
        Assert.True(bad == 0, $"{v.Name}: {bad} of {threads * v.N / 2} accumulators wrong; {string.Join("", first)}");
    }

    public static TheoryData<int, bool, int, int, int, int> Shapes => new()
    {
        { 8, false, 1, 1, 0, 0 },
        { 64, false, 1, 1, 0, 0 },
        { 128, false, 1, 1, 0, 0 },
        { 256, false, 1, 1, 0, 0 },
        { 64, true, 1, 1, 0, 0 },      // bf16
        { 32, false, -1, 1, 0, 0 },    // imm-scale-a = -1 negates A
        { 64, false, 1, -1, 1, 1 },    // MN-major A and B (imm-trans = 1), B negated
        { 16, true, 1, 1, 0, 1 },      // bf16, K-major A with MN-major B
    };

    [PtxTheory]
    [MemberData(nameof(Shapes))]
    public void OneStepIsTheProductOfTheOperandsThroughTheIsaLayouts(int n, bool bf, int sa, int sb, int ta, int tb)
    {
        var v = new Variant(n, bf, sa, sb, ta, tb);
        var r = Launch(v);
        AssertMatches(v, r);
        Assert.Equal(1, r.Stats.WgmmaCount);
        Assert.Equal(2L * 64 * n * 16, r.Stats.WgmmaFlops);
    }

    [PtxTheory]
    [InlineData(0)]
    [InlineData(Pipelined)]
    public void AChainOfKStepsAccumulatesIntoTheSameRegisters(int flags)
    {
        // scale-d 0 on the first step (the 1000 + i the kernel put there is dropped), 1 on the rest; wait_group 0
        // after each step, or 1 (each wait completes the previous step while the next is queued)
        var v = new Variant(128);
        var r = Launch(v, steps: 4, flags: flags);
        AssertMatches(v, r);
        Assert.Equal(4, r.Stats.WgmmaCount);
    }

    /// <summary>
    /// A small pipelined GEMM as a conv kernel would run it: D (64 x 64) = A (64 x K) B (K x 64), k16 tiles double-
    /// buffered in shared memory by cp.async, one wgmma per tile, wgmma.wait_group 0 or 1. With loadFirst the next
    /// tile's copy is issued at the top of the loop, into the buffer the previous tile's wgmma reads: with
    /// wait_group 1 that wgmma may still be running, a race the GPU would show as a wrong product now and then.
    /// </summary>
    static string PipeSource()
    {
        var regs = string.Join(", ", Enumerable.Range(0, 32).Select(i => $"%{i}"));
        var outs = string.Join(", ", Enumerable.Range(0, 32).Select(i => $"\"+f\"(d[{i}])"));
        return $$"""
            #define LOAD(T) { int st_ = (T) % 2, row_ = tid >> 1, half_ = tid & 1; \
                unsigned dA_ = base + st_ * 4096 + (row_ / 8) * 256 + half_ * 128 + (row_ % 8) * 16; \
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(dA_), "l"(A + row_ * K + (T) * 16 + half_ * 8) : "memory"); \
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(dA_ + 2048), "l"(B + row_ * K + (T) * 16 + half_ * 8) : "memory"); }
            extern "C" __global__ void pipe_gemm(const unsigned short* A, const unsigned short* B, int K, int loadFirst, int depth, float* out)
            {
                extern __shared__ uint4 smem[];
                int tid = threadIdx.x, kt = K / 16;
                unsigned base = (unsigned)__cvta_generic_to_shared(smem);
                // K-major core matrices: the two k halves 128 bytes apart, row groups 256 apart; A then B in each stage
                const unsigned long long desc = ((128ull >> 4) << 16) | ((256ull >> 4) << 32);
                float d[32];
            #pragma unroll
                for (int i = 0; i < 32; i++) d[i] = 0.0f;
                LOAD(0);
                asm volatile("cp.async.commit_group;" ::: "memory");
                for (int t = 0; t < kt; t++) {
                    if (loadFirst && t + 1 < kt) LOAD(t + 1);
                    asm volatile("cp.async.commit_group;" ::: "memory");
                    asm volatile("cp.async.wait_group 1;" ::: "memory");
                    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
                    __syncthreads();
                    unsigned a = base + (t % 2) * 4096;
                    unsigned long long da = desc | ((a & 0x3FFFF) >> 4), db = desc | (((a + 2048) & 0x3FFFF) >> 4);
                    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
                    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                        "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{{regs}}}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                        : {{outs}} : "l"(da), "l"(db), "r"(t > 0 ? 1 : 0) : "memory");
                    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
                    if (depth) asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
                    else asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
                    if (!loadFirst && t + 1 < kt) LOAD(t + 1);
                    if (!loadFirst) asm volatile("cp.async.commit_group;" ::: "memory");   // then the top's wait 1 leaves only an empty group
                }
                asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
            #pragma unroll
                for (int i = 0; i < 32; i++) out[tid * 32 + i] = d[i];
            }
            """;
    }

    [PtxTheory]
    [InlineData(false, 0)]
    [InlineData(false, 1)]
    [InlineData(true, 0)]
    [InlineData(true, 1)]
    public void APipelinedGemmPassesOnlyWhenItsBufferReuseIsSafe(bool loadFirst, int depth)
    {
        const int K = 64;
        var rng = new Random(17);
        var A = new Half[64 * K];
        var B = new Half[64 * K];   // B[n][k]: each column of the K x N operand k-contiguous (K-major)
        for (int i = 0; i < A.Length; i++) { A[i] = (Half)(rng.NextSingle() * 2 - 1); B[i] = (Half)(rng.NextSingle() * 2 - 1); }
        var k = PtxCompile.Module90("pipe_gemm.cu", PipeSource()).GetKernel("pipe_gemm");
        var dev = new PtxTestDevice();
        ulong pa = dev.Upload(A, "A"), pb = dev.Upload(B, "B"), po = dev.Output<float>(128 * 32, "out");
        void Run() => dev.Launch(k, new PtxDim3(1), new PtxDim3(128), 8192, new PtxLaunchOptions(), pa, pb, K, loadFirst ? 1 : 0, depth, po);
        if (loadFirst && depth == 1)
        {
            var e = PtxChecks.Expect(Run);
            Assert.Equal(PtxCheckKind.SharedRace, e.Kind);
            Assert.Contains("which a wgmma.mma_async in flight reads", e.Message);
            return;
        }
        Run();
        var d = dev.Download<float>(po, 128 * 32);
        for (int t = 0; t < 128; t++)
            for (int i = 0; i < 32; i++)
            {
                var (m, n) = Fragment(t, i);
                double want = 0, mag = 0;
                for (int kk = 0; kk < K; kk++) { double p = (double)A[m * K + kk] * (double)B[n * K + kk]; want += p; mag += Math.Abs(p); }
                Assert.True(Math.Abs(d[t * 32 + i] - want) <= 1e-6 * mag + 1e-7, $"thread {t} d{i} = D[{m}][{n}]: {d[t * 32 + i]}, expected {want}");
            }
    }

    [PtxFact]
    public void TwoWarpgroupsEachComputeTheirOwnTile()
    {
        var v = new Variant(64);
        var r = Launch(v, steps: 2, threads: 256);
        AssertMatches(v, r, threads: 256);
        Assert.Equal(4, r.Stats.WgmmaCount);      // 2 steps x 2 warpgroups
    }

    [PtxFact]
    public void AWrongLboOrSboGivesAWrongProduct()
    {
        // the proof that the layout test above can fail: the same data read through other offsets
        var v = new Variant(64);
        var r = Launch(v, descA: Desc(ALbo / 2, ASbo));
        Assert.True(Mismatches(v, r) > 1000, "the A descriptor's LBO was halved, yet the product came out right");
        var r2 = Launch(v, descB: Desc(BSbo, BLbo));
        Assert.True(Mismatches(v, r2) > 1000, "the B descriptor's LBO and SBO were swapped, yet the product came out right");
    }

    [PtxFact]
    public void ReadingTheAccumulatorsBeforeTheWaitReadsNaN()
    {
        // in flight, the accumulator registers hold a NaN until the wait_group that completes the operation
        var v = new Variant(64);
        foreach (bool checks in new[] { true, false })
        {
            var r = Launch(v, steps: 2, flags: ReadBeforeWait, checks: checks);
            Assert.All(r.Out, x => Assert.True(float.IsNaN(x), $"an accumulator read before the wait gave {x}"));
        }
    }

    [PtxFact]
    public void OverwritingAnOperandBeforeTheWaitIsARaceAndGivesTheNewBytes()
    {
        var v = new Variant(64);
        var e = PtxChecks.Expect(() => Launch(v, flags: OverwriteBeforeWait));
        Assert.Equal(PtxCheckKind.SharedRace, e.Kind);
        Assert.Contains("which a wgmma.mma_async in flight reads", e.Message);
        // without the checks the operation reads shared memory at the wait: the overwritten A
        var r = Launch(v, flags: OverwriteBeforeWait, checks: false);
        Assert.True(Mismatches(v, r) > 1000, "A was overwritten before the wait, yet the product came out right");
    }

    [PtxFact]
    public void AnotherWarpgroupWritingAnOperandWithoutABarrierIsARace()
    {
        // whichever comes first in the shuffled schedule (the write or the first warpgroup's wgmma), it is reported
        foreach (int seed in new[] { 0, 1, 2 })
        {
            var e = PtxChecks.Expect(() => Launch(new Variant(8), flags: OtherGroupWrites, threads: 256, seed: seed));
            Assert.Equal(PtxCheckKind.SharedRace, e.Kind);
        }
    }

    [PtxFact]
    public void WritingAnAccumulatorInFlightIsReported()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), flags: WriteInFlight));
        Assert.Equal(PtxCheckKind.AsyncProtocol, e.Kind);
        Assert.Contains("accumulator register 1 ", e.Message);
        Assert.Contains("written while the operation was in flight", e.Message);
    }

    [PtxFact]
    public void AThreadExitingBeforeAWarpgroupInstructionIsDivergence()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), flags: OneThreadExits));
        Assert.Equal(PtxCheckKind.BarrierDivergence, e.Kind);
        Assert.Contains("(5,0,0) of its warpgroup has exited", e.Message);
    }

    [PtxFact]
    public void AnMmaWithoutWgmmaFenceIsReported()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), flags: NoFence));
        Assert.Equal(PtxCheckKind.AsyncProtocol, e.Kind);
        Assert.Contains("no wgmma.fence", e.Message);
    }

    [PtxFact]
    public void AnMmaAfterTheWaitHandedTheAccumulatorsBackNeedsANewFence()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), steps: 2, flags: FenceOnce));
        Assert.Equal(PtxCheckKind.AsyncProtocol, e.Kind);
        Assert.Contains("since a wgmma.wait_group handed", e.Message);
    }

    [PtxFact]
    public void OperandsWrittenWithoutFenceProxyAsyncAreReported()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), flags: NoProxyFence));
        Assert.Equal(PtxCheckKind.AsyncProtocol, e.Kind);
        Assert.Contains("fence.proxy.async", e.Message);
    }

    [PtxFact]
    public void ExitingWithAnUncompletedMmaIsReported()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), flags: NeverWait));
        Assert.Equal(PtxCheckKind.AsyncProtocol, e.Kind);
        Assert.Contains("not completed by a wgmma.wait_group", e.Message);
    }

    [PtxFact]
    public void DescriptorsMustBeUniformAcrossTheWarpgroup()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), flags: NonUniformDesc));
        Assert.Equal(PtxCheckKind.AsyncProtocol, e.Kind);
        Assert.Equal(new PtxDim3(37, 0, 0), e.Thread);
    }

    [PtxFact]
    public void ADescriptorPastTheSharedMemoryIsOutOfBounds()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), bOffExtra: 4096));
        Assert.Equal(PtxCheckKind.OutOfBounds, e.Kind);
        Assert.Contains("matrix B", e.Message);
    }

    [PtxFact]
    public void UnwrittenOperandBytesAreUninitialised()
    {
        // the image copied in stops after A: B's bytes were never written in this block
        var e = PtxChecks.Expect(() => Launch(new Variant(8), imgBytes: AStepBytes));
        Assert.Equal(PtxCheckKind.UninitialisedShared, e.Kind);
        Assert.Contains("matrix B", e.Message);
    }

    [PtxFact]
    public void AWarpgroupNeedsFourFullWarps()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), threads: 64));
        Assert.Equal(PtxCheckKind.InactiveLane, e.Kind);
        Assert.Contains("warpgroup", e.Message);
    }

    [PtxTheory]
    [InlineData(32, false)]
    [InlineData(64, false)]
    [InlineData(128, false)]
    [InlineData(32, true)]
    [InlineData(64, true)]
    [InlineData(128, true)]
    public void SwizzledLayoutsGiveTheProduct(int S, bool mnMajor)
    {
        // K-major: the k16 steps walk through one atom (the start address moves 32 bytes, off the pattern's alignment)
        var v = new Variant(64, TransA: mnMajor ? 1 : 0, TransB: mnMajor ? 1 : 0);
        int steps = mnMajor ? 2 : S / 32;
        var r = mnMajor
            ? Launch(v, steps: steps, la: MnMajorSwizzled(S, 64, steps), lb: MnMajorSwizzled(S, 64, steps))
            : Launch(v, steps: steps, la: KMajorSwizzled(S, 64), lb: KMajorSwizzled(S, 64));
        AssertMatches(v, r);
        // the same bytes read through another swizzle mode are wrong
        ulong Other(ulong d) => (d & ~(3UL << 62)) | SwizzleBits(S == 128 ? 64 : 128);
        var la = mnMajor ? MnMajorSwizzled(S, 64, steps) : KMajorSwizzled(S, 64);
        var wrong = Launch(v, steps: steps, la: la with { Desc = Other(la.Desc) }, lb: la);
        Assert.True(Mismatches(v, wrong) > 100, $"{S}-byte swizzle: a wrong swizzle mode gave the right product");
    }

    [PtxFact]
    public void ASwizzledDescriptorWithABaseOffsetIsRefused()
    {
        var e = PtxChecks.Expect(() => Launch(new Variant(8), la: KMajorSwizzled(128, 64) with { Desc = KMajorSwizzled(128, 64).Desc | (3UL << 49) }));
        Assert.Equal(PtxCheckKind.InvalidInstruction, e.Kind);
        Assert.Contains("base offset", e.Message);
    }

    [PtxTheory]
    [InlineData("wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, 1, 1, 1, 1;", "matrix A in registers")]
    [InlineData("wgmma.mma_async.sync.aligned.m64n8k16.f16.f16.f16 {%0,%1}, %8, %8, 1, 1, 1, 0, 0;", "type")]
    [InlineData("wgmma.mma_async.sync.aligned.m64n8k32.f32.e4m3.e4m3 {%0,%1,%2,%3}, %8, %8, 1, 1, 1;", "shape")]
    [InlineData("wgmma.mma_async.sp.sync.aligned.m64n8k32.f32.f16.f16 {%0,%1,%2,%3}, %8, %8, %4, 0, 1, 1, 1, 0, 0;", ".sp")]
    public void OtherWgmmaFormsAreRefusedWhenTheModuleIsRead(string asm, string what)
    {
        string src = $$"""
            extern "C" __global__ void other(unsigned long long desc, float* out) {
                unsigned a0 = 0, a1 = 0, a2 = 0, a3 = 0; float d0 = 0, d1 = 0, d2 = 0, d3 = 0;
                asm volatile("{{asm}}" : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "l"(desc));
                out[threadIdx.x] = d0 + d1 + d2 + d3;
            }
            """;
        var e = Assert.Throws<PtxParseException>(() => PtxCompile.Module90("other_" + what.Length + asm.Length + ".cu", src));
        Assert.Contains("not supported by the interpreter", e.Message);
        Assert.Contains(what, e.Message);
    }
}
