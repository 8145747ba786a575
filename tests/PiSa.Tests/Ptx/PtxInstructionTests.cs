using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>
/// The forms the speed work will bring (bit manipulation, atomics, vote, cp.async, local memory), each run through
/// a tiny kernel against values worked out by hand from the PTX ISA's description of the instruction.
/// </summary>
public class PtxInstructionTests
{
    const string Source = """
        extern "C" __global__ void bits(const unsigned* a, const unsigned* b, const unsigned* c, unsigned* d) {
            unsigned x = a[0], y = b[0], z = c[0], r;
            asm("lop3.b32 %0, %1, %2, %3, 0x96;" : "=r"(r) : "r"(x), "r"(y), "r"(z)); d[0] = r;      // a ^ b ^ c
            asm("lop3.b32 %0, %1, %2, %3, 0xE8;" : "=r"(r) : "r"(x), "r"(y), "r"(z)); d[1] = r;      // majority
            asm("prmt.b32 %0, %1, %2, 0x3210;" : "=r"(r) : "r"(x), "r"(y)); d[2] = r;                // identity: a
            asm("prmt.b32 %0, %1, %2, 0x7654;" : "=r"(r) : "r"(x), "r"(y)); d[3] = r;                // b
            asm("prmt.b32 %0, %1, %2, 0x0123;" : "=r"(r) : "r"(x), "r"(y)); d[4] = r;                // bytes of a reversed
            asm("prmt.b32 %0, %1, %2, 0x8800;" : "=r"(r) : "r"(x), "r"(y)); d[5] = r;                // sign-replicated
            asm("bfe.u32 %0, %1, 8, 12;" : "=r"(r) : "r"(x)); d[6] = r;
            asm("bfe.s32 %0, %1, 28, 4;" : "=r"(r) : "r"(x)); d[7] = r;
            asm("bfi.b32 %0, %1, %2, 4, 8;" : "=r"(r) : "r"(y), "r"(x)); d[8] = r;
            asm("shf.l.wrap.b32 %0, %1, %2, 8;" : "=r"(r) : "r"(x), "r"(y)); d[9] = r;               // (b:a << 8) >> 32
            asm("shf.r.clamp.b32 %0, %1, %2, 40;" : "=r"(r) : "r"(x), "r"(y)); d[10] = r;            // clamp 40 -> 32: b
            asm("mul.hi.u32 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(y)); d[11] = r;
            asm("mad.hi.u32 %0, %1, %2, 5;" : "=r"(r) : "r"(x), "r"(y)); d[12] = r;
            asm("popc.b32 %0, %1;" : "=r"(r) : "r"(x)); d[13] = r;
            asm("clz.b32 %0, %1;" : "=r"(r) : "r"(z)); d[14] = r;
            asm("brev.b32 %0, %1;" : "=r"(r) : "r"(z)); d[15] = r;
            asm("slct.u32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(y), "r"(z)); d[16] = r;       // c >= 0 ? a : b
            asm("{ .reg .u64 w; mul.wide.u32 w, %1, %2; shr.u64 w, w, 32; cvt.u32.u64 %0, w; }" : "=r"(r) : "r"(x), "r"(y)); d[17] = r;
        }
        extern "C" __global__ void atomics(unsigned* g, float* gf, unsigned* out) {
            __shared__ unsigned s[2];
            if (threadIdx.x == 0) { s[0] = 0; s[1] = 0; }
            __syncthreads();
            atomicAdd(&s[0], threadIdx.x);
            atomicMax(&s[1], threadIdx.x * 7 % 64);
            atomicAdd(&g[0], 1u);
            atomicAdd(gf, 0.5f);
            atomicCAS(&g[1], 0u, threadIdx.x + 1);      // exactly one thread wins
            __syncthreads();
            if (threadIdx.x == 0) { out[0] = s[0]; out[1] = s[1]; }
        }
        extern "C" __global__ void votes(const int* v, unsigned* out) {
            int p = v[threadIdx.x];
            unsigned b = __ballot_sync(0xffffffffu, p);
            int all = __all_sync(0xffffffffu, p), any = __any_sync(0xffffffffu, p);
            if (threadIdx.x == 0) { out[0] = b; out[1] = all; out[2] = any; }
        }
        extern "C" __global__ void cp_async_groups(const float* a, const float* b, float* out) {
            __shared__ __align__(16) float s[2][128];
            int t = threadIdx.x;                       // 32 threads, 4 floats (16 bytes) each
            for (int k = 0; k < 4; k++) { s[0][4 * t + k] = -1.0f; s[1][4 * t + k] = -1.0f; }
            unsigned d0 = (unsigned)__cvta_generic_to_shared(&s[0][4 * t]), d1 = (unsigned)__cvta_generic_to_shared(&s[1][4 * t]);
            asm volatile("cp.async.ca.shared.global [%0], [%1], 16;" :: "r"(d0), "l"(a + 4 * t));
            asm volatile("cp.async.commit_group;");
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(d1), "l"(b + 4 * t));
            asm volatile("cp.async.commit_group;");
            asm volatile("cp.async.wait_group 1;");    // the first group is complete, the second may not be
            out[t] = s[0][4 * t + 1];
            out[64 + t] = s[1][4 * t + 2];             // not waited for yet
            asm volatile("cp.async.wait_all;");
            out[32 + t] = s[1][4 * t + 2];
        }
        extern "C" __global__ void local_array(const int* idx, float* out) {
            float a[16];
            for (int k = 0; k < 16; k++) a[k] = k * 1.5f + threadIdx.x;
            out[threadIdx.x] = a[idx[threadIdx.x] & 15];   // dynamic index: the array lives in .local
        }
        """;

    static PtxKernel K(string name) => PtxCompile.Kernel("instructions_test.cu", Source, name);

    [PtxFact]
    public void BitManipulationFormsGiveTheIsaResults()
    {
        uint a = 0x8765_4321, b = 0x0F1E_2D3C, c = 0x0000_F0F0;
        var dev = new PtxTestDevice();
        ulong pa = dev.Upload(new[] { a }, "a"), pb = dev.Upload(new[] { b }, "b"), pc = dev.Upload(new[] { c }, "c");
        ulong pd = dev.Output<uint>(18, "d");
        dev.Launch(K("bits"), new PtxDim3(1), new PtxDim3(1), pa, pb, pc, pd);
        var d = dev.Download<uint>(pd, 18);
        Assert.Equal(a ^ b ^ c, d[0]);
        Assert.Equal((a & b) | (a & c) | (b & c), d[1]);
        Assert.Equal(a, d[2]);
        Assert.Equal(b, d[3]);
        Assert.Equal(0x2143_6587u, d[4]);
        // selector 8 = byte 0 of a (0x21) sign-replicated -> 0x00, selector 0 = byte 0 (0x21): bytes (lsb first) 21 21 00 00
        Assert.Equal(0x0000_2121u, d[5]);
        Assert.Equal((a >> 8) & 0xFFF, d[6]);
        Assert.Equal(0xFFFF_FFF8u, d[7]);                                // top nibble 0x8 sign-extended
        Assert.Equal((a & ~0xFF0u) | ((b & 0xFF) << 4), d[8]);           // insert 8 bits of b at bit 4 of a
        Assert.Equal((uint)(((((ulong)b << 32) | a) << 8) >> 32), d[9]);
        Assert.Equal(b, d[10]);
        Assert.Equal((uint)(((ulong)a * b) >> 32), d[11]);
        Assert.Equal((uint)(((ulong)a * b) >> 32) + 5, d[12]);
        Assert.Equal((uint)System.Numerics.BitOperations.PopCount(a), d[13]);
        Assert.Equal(16u, d[14]);
        Assert.Equal(0x0F0F_0000u, d[15]);
        Assert.Equal(a, d[16]);                                          // c = 0xF0F0 >= 0
        Assert.Equal((uint)(((ulong)a * b) >> 32), d[17]);
    }

    [PtxFact]
    public void AtomicsOnSharedAndGlobalMemoryCountEveryThread()
    {
        var dev = new PtxTestDevice();
        ulong g = dev.Upload(new uint[] { 10, 0 }, "g"), gf = dev.Upload(new[] { 1f }, "gf"), o = dev.Output<uint>(2, "out");
        dev.Launch(K("atomics"), new PtxDim3(2), new PtxDim3(64), g, gf, o);
        var gr = dev.Download<uint>(g, 2);
        Assert.Equal(10u + 128, gr[0]);
        Assert.InRange(gr[1], 1u, 64u);
        Assert.Equal(1f + 64f, dev.Download<float>(gf, 1)[0]);
        var or = dev.Download<uint>(o, 2);
        Assert.Equal((uint)(63 * 64 / 2), or[0]);
        Assert.Equal((uint)Enumerable.Range(0, 64).Max(t => t * 7 % 64), or[1]);
    }

    [PtxFact]
    public void VoteBallotAllAny()
    {
        var v = Enumerable.Range(0, 32).Select(l => l % 3 == 0 ? 1 : 0).ToArray();
        var dev = new PtxTestDevice();
        ulong pv = dev.Upload(v, "v"), po = dev.Output<uint>(3, "out");
        dev.Launch(K("votes"), new PtxDim3(1), new PtxDim3(32), pv, po);
        var o = dev.Download<uint>(po, 3);
        uint want = 0;
        for (int l = 0; l < 32; l++) if (v[l] != 0) want |= 1u << l;
        Assert.Equal(want, o[0]);
        Assert.Equal(0u, o[1]);
        Assert.Equal(1u, o[2]);
    }

    [PtxFact]
    public void CpAsyncCompletesGroupsOnlyWhenWaitedFor()
    {
        var a = Enumerable.Range(0, 128).Select(i => (float)i).ToArray();
        var b = Enumerable.Range(0, 128).Select(i => 1000f + i).ToArray();
        var dev = new PtxTestDevice();
        ulong pa = dev.Upload(a, "a"), pb = dev.Upload(b, "b"), po = dev.Output<float>(96, "out");
        var st = dev.Launch(K("cp_async_groups"), new PtxDim3(1), new PtxDim3(32), pa, pb, po);
        var o = dev.Download<float>(po, 96);
        for (int t = 0; t < 32; t++)
        {
            Assert.Equal(a[4 * t + 1], o[t]);          // group 0 waited for by wait_group 1
            Assert.Equal(b[4 * t + 2], o[32 + t]);     // group 1 by wait_all
            // before its wait, group 1's destination still holds the old bytes: the interpreter completes a copy
            // only at the wait (on a GPU either value may be read), so a missing wait shows as wrong data
            Assert.Equal(-1f, o[64 + t]);
        }
        Assert.True(st.GlobalBytesRead >= 2 * 128 * 4, st.ToString());
        Assert.Contains("cp.async.wait_group", PtxCompile.Module("instructions_test.cu", Source).InstructionForms);
    }

    [PtxFact]
    public void ADynamicallyIndexedArrayLivesInLocalMemory()
    {
        var idx = Enumerable.Range(0, 32).Select(i => (i * 5) % 16).ToArray();
        var dev = new PtxTestDevice();
        ulong pi = dev.Upload(idx, "idx"), po = dev.Output<float>(32, "out");
        dev.Launch(K("local_array"), new PtxDim3(1), new PtxDim3(32), pi, po);
        var o = dev.Download<float>(po, 32);
        for (int t = 0; t < 32; t++) Assert.Equal(idx[t] * 1.5f + t, o[t]);
        Assert.Contains(PtxCompile.Module("instructions_test.cu", Source).InstructionForms, f => f.Contains(".local"));
    }
}
