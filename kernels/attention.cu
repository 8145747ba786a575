// Scaled dot-product attention, flash style: online softmax in fp32, no score matrix in memory.
//   q [B, Lq, *], k and v [B, Lk, *] fp16 with row strides ldq, ldk, ldv halfs (H*D for separate tensors; wider
//   when they are channel windows of a fused QKV/KV projection, the pointers then offset to the window);
//   head h uses channels [h*D, (h+1)*D) of each row; out is a contiguous [B, Lq, H*D].
//   scale 1/sqrt(D) (passed in); causal masks key j > query i.
//
// One warp per query row; nw = blockDim.x / 32 query rows per block share each K/V tile of 32 keys
// staged in shared memory. Scores: lane j computes the full dot product of the query (fp32 in smem,
// pre-scaled by scale*log2(e), broadcast reads) with key j0+j, so the softmax update needs one warp
// max and one warp sum per 32 keys. P*V: lane owns output dims lane + 32t (t < 16, hence D <= 512),
// accumulating in registers. K and V tiles reuse the same smem buffer (first K, then V).
// Grid (ceil(Lq/nw), H, B). Dynamic smem = nw*D*4 + 32*DP*2 bytes, DP = kv row stride in halfs:
// D rounded up to even, plus 2 if DP/2 would be even (so per-lane key rows hit distinct banks).
// The host picks nw in {8,4,2,1} as the largest keeping smem <= 48 KB. SIMT for now: a tensor-core
// version (mma.sync on Q*K^T and P*V) can replace it behind the same signature.
typedef unsigned short half_t;
__device__ __forceinline__ float h2f(half_t h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ half_t f2h(float f) { half_t h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }

#define MAX_T 16   // D <= 32 * MAX_T
#define NEG_INF __int_as_float(0xff800000)

extern "C" __global__ void attention_f16(const half_t* __restrict__ q, const half_t* __restrict__ k, const half_t* __restrict__ v,
                                         half_t* __restrict__ out, int Lq, int Lk, int H, int D, int ldq, int ldk, int ldv,
                                         float scale, int causal)
{
    extern __shared__ float smem[];
    const int nw = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int DP = (D + 1) & ~1; if (((DP >> 1) & 1) == 0) DP += 2;
    float* qs = smem;                                          // [nw][D]
    half_t* kv = reinterpret_cast<half_t*>(smem + nw * D);     // [32][DP]

    const int b = blockIdx.z, h = blockIdx.y, HD = H * D;
    const int i = blockIdx.x * nw + warp;
    const bool active = i < Lq;
    const float qscale = scale * 1.4426950408889634f;         // exp(x) = exp2(x * log2 e)
    const half_t* qrow = q + ((long long)b * Lq + i) * ldq + h * D;
    for (int d = lane; d < D; d += 32) qs[warp * D + d] = active ? h2f(qrow[d]) * qscale : 0.0f;

    const half_t* kb = k + (long long)b * Lk * ldk + h * D;
    const half_t* vb = v + (long long)b * Lk * ldv + h * D;
    int kEnd = Lk;
    if (causal) kEnd = min(Lk, (blockIdx.x + 1) * nw);

    float m = NEG_INF, l = 0.0f, acc[MAX_T];
#pragma unroll
    for (int t = 0; t < MAX_T; t++) acc[t] = 0.0f;

    for (int j0 = 0; j0 < kEnd; j0 += 32) {
        __syncthreads();                                   // previous V tile (and q on entry) done
        for (int e = threadIdx.x; e < 32 * D; e += blockDim.x) {
            int j = e / D, d = e - j * D;
            kv[j * DP + d] = j0 + j < Lk ? kb[(long long)(j0 + j) * ldk + d] : (half_t)0;
        }
        __syncthreads();
        const int j = j0 + lane;
        float s = NEG_INF;
        if (active && j < Lk && (!causal || j <= i)) {
            const float* qw = qs + warp * D;
            const half_t* kr = kv + lane * DP;
            float a0 = 0.0f, a1 = 0.0f;
            int d = 0;
            for (; d + 1 < D; d += 2) { a0 += qw[d] * h2f(kr[d]); a1 += qw[d + 1] * h2f(kr[d + 1]); }
            if (d < D) a0 += qw[d] * h2f(kr[d]);
            s = a0 + a1;
        }
        float tmax = s;
        for (int o = 16; o > 0; o >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, o));
        const float mnew = fmaxf(m, tmax);
        float p = 0.0f, corr = 1.0f;
        if (mnew != NEG_INF) { p = exp2f(s - mnew); corr = exp2f(m - mnew); }   // exp2(-inf) = 0
        float psum = p;
        for (int o = 16; o > 0; o >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, o);
        l = l * corr + psum;
        m = mnew;

        __syncthreads();                                   // K tile consumed
        for (int e = threadIdx.x; e < 32 * D; e += blockDim.x) {
            int jj = e / D, d = e - jj * D;
            kv[jj * DP + d] = j0 + jj < Lk ? vb[(long long)(j0 + jj) * ldv + d] : (half_t)0;
        }
        __syncthreads();
#pragma unroll
        for (int t = 0; t < MAX_T; t++) acc[t] *= corr;
        const int nk = min(32, kEnd - j0);
        for (int jj = 0; jj < nk; jj++) {
            const float pj = __shfl_sync(0xffffffffu, p, jj);
            const half_t* vr = kv + jj * DP + lane;
#pragma unroll
            for (int t = 0; t < MAX_T; t++) {
                if (32 * t >= D) break;
                if (lane + 32 * t < D) acc[t] += pj * h2f(vr[32 * t]);
            }
        }
    }

    if (active) {
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        half_t* orow = out + ((long long)b * Lq + i) * HD + h * D;
#pragma unroll
        for (int t = 0; t < MAX_T; t++) {
            if (32 * t >= D) break;
            if (lane + 32 * t < D) orow[lane + 32 * t] = f2h(acc[t] * inv);
        }
    }
}

// ---- tensor-core version: attention_mma_f16 ----------------------------------------------------------------------
// Same contract as attention_f16 for head dims D <= 64 with D % 8 == 0 (the UNet's 40 and 64, CLIP's 64).
// FlashAttention-2 structure on mma.sync.m16n8k16 (fp16 in, fp32 accumulate): 4 warps, each owning 16 query rows
// (64 per block); K and V tiles of 64 keys staged in shared memory by the whole block; S = Q K^T per warp in
// registers, online softmax in fp32 on the accumulator fragments (row max and sum over the 4 lanes of a quad), the
// probabilities re-packed in registers as the A fragments of P V (the C layout of two n-tiles is the A layout of one
// k-chunk). Fragment layouts: PTX ISA "Matrix Fragments for mma.m16n8k16". Dims past D are zero (k-chunks of 16).
// First tensor-core version: plain 32-bit shared loads, no ldmatrix or cp.async double-buffering yet.
// Grid (ceil(Lq/64), H, B), 128 threads, static smem 2 * 64 * (64 + 8) halfs = 18 KB.
#define MMA_KT 64                // keys per tile
#define MMA_DP (64 + 8)          // smem row stride in halfs (+8: rows start 16 bytes apart mod 128 -> fewer conflicts)

__device__ __forceinline__ void mma16816(float* c, const unsigned* a, unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned pack2(half_t lo, half_t hi) { return (unsigned)lo | ((unsigned)hi << 16); }
__device__ __forceinline__ unsigned pack2f(float lo, float hi) { return pack2(f2h(lo), f2h(hi)); }

extern "C" __global__ void __launch_bounds__(128) attention_mma_f16(
    const half_t* __restrict__ q, const half_t* __restrict__ k, const half_t* __restrict__ v, half_t* __restrict__ out,
    int Lq, int Lk, int H, int D, int ldq, int ldk, int ldv, float scale, int causal)
{
    __shared__ __align__(16) half_t ks[MMA_KT * MMA_DP];
    __shared__ __align__(16) half_t vs[MMA_KT * MMA_DP];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, quad = lane >> 2, qlane = lane & 3;
    const int b = blockIdx.z, h = blockIdx.y, HD = H * D;
    const int q0 = blockIdx.x * 64 + warp * 16;             // this warp's first query row
    const int kchunks = (D + 15) >> 4, ntd = D >> 3;          // k-chunks of 16 dims; n-tiles of 8 output dims
    const float sl2 = scale * 1.4426950408889634f;

    // Q fragments (A, row-major 16 x 16 per k-chunk): a0 (r, c..c+1), a1 (r+8, c..), a2 (r, c+8..), a3 (r+8, c+8..)
    // with r = quad, c = 2 * qlane; zero outside Lq and D.
    unsigned qa[4][4];
    const half_t* qb = q + ((long long)b * Lq) * ldq + h * D;
#pragma unroll
    for (int kc = 0; kc < 4; kc++) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int row = q0 + quad + ((r & 1) ? 8 : 0), col = kc * 16 + 2 * qlane + ((r & 2) ? 8 : 0);
            half_t x0 = 0, x1 = 0;
            if (kc < kchunks && row < Lq) {
                if (col < D) x0 = qb[(long long)row * ldq + col];
                if (col + 1 < D) x1 = qb[(long long)row * ldq + col + 1];
            }
            qa[kc][r] = pack2(x0, x1);
        }
    }

    float o[8][4];
#pragma unroll
    for (int t = 0; t < 8; t++) { o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.0f; }
    float m0 = NEG_INF, m1 = NEG_INF, l0 = 0.0f, l1 = 0.0f;   // rows quad and quad + 8
    const int i0 = q0 + quad, i1 = i0 + 8;

    const half_t* kb = k + (long long)b * Lk * ldk + h * D;
    const half_t* vb = v + (long long)b * Lk * ldv + h * D;
    int kEnd = Lk;
    if (causal) kEnd = min(Lk, blockIdx.x * 64 + 64);
    const int Dp = kchunks * 16;

    for (int j0 = 0; j0 < kEnd; j0 += MMA_KT) {
        __syncthreads();                                      // the previous tiles are consumed
        for (int e = threadIdx.x; e < MMA_KT * Dp; e += blockDim.x) {
            int j = e / Dp, d = e - j * Dp;
            bool in = j0 + j < Lk && d < D;
            ks[j * MMA_DP + d] = in ? kb[(long long)(j0 + j) * ldk + d] : (half_t)0;
            vs[j * MMA_DP + d] = in ? vb[(long long)(j0 + j) * ldv + d] : (half_t)0;
        }
        __syncthreads();

        // S = Q K^T for 64 keys: 8 n-tiles of 8 keys. B (col-major 16 x 8): b0 (k = 2*qlane.., n = quad), b1 (k + 8).
        float s[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            const half_t* kr = ks + (nt * 8 + quad) * MMA_DP + 2 * qlane;
#pragma unroll
            for (int kc = 0; kc < 4; kc++) {
                if (kc < kchunks) {
                    unsigned b0 = *reinterpret_cast<const unsigned*>(kr + kc * 16);
                    unsigned b1 = *reinterpret_cast<const unsigned*>(kr + kc * 16 + 8);
                    mma16816(s[nt], qa[kc], b0, b1);
                }
            }
        }
        // Mask and online softmax. C layout: c0, c1 at (row quad, keys 2*qlane, +1); c2, c3 at row quad + 8.
        float tm0 = NEG_INF, tm1 = NEG_INF;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int j = j0 + nt * 8 + 2 * qlane + (e & 1), i = (e & 2) ? i1 : i0;
                float x = s[nt][e] * sl2;
                if (j >= Lk || (causal && j > i)) x = NEG_INF;
                s[nt][e] = x;
                if (e & 2) tm1 = fmaxf(tm1, x); else tm0 = fmaxf(tm0, x);
            }
        }
        tm0 = fmaxf(tm0, __shfl_xor_sync(0xffffffffu, tm0, 1)); tm0 = fmaxf(tm0, __shfl_xor_sync(0xffffffffu, tm0, 2));
        tm1 = fmaxf(tm1, __shfl_xor_sync(0xffffffffu, tm1, 1)); tm1 = fmaxf(tm1, __shfl_xor_sync(0xffffffffu, tm1, 2));
        const float mn0 = fmaxf(m0, tm0), mn1 = fmaxf(m1, tm1);
        const float c0 = mn0 == NEG_INF ? 1.0f : exp2f(m0 - mn0), c1 = mn1 == NEG_INF ? 1.0f : exp2f(m1 - mn1);
        float ps0 = 0.0f, ps1 = 0.0f;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float mn = (e & 2) ? mn1 : mn0;
                float p = mn == NEG_INF ? 0.0f : exp2f(s[nt][e] - mn);
                s[nt][e] = p;
                if (e & 2) ps1 += p; else ps0 += p;
            }
        }
        ps0 += __shfl_xor_sync(0xffffffffu, ps0, 1); ps0 += __shfl_xor_sync(0xffffffffu, ps0, 2);
        ps1 += __shfl_xor_sync(0xffffffffu, ps1, 1); ps1 += __shfl_xor_sync(0xffffffffu, ps1, 2);
        l0 = l0 * c0 + ps0; l1 = l1 * c1 + ps1;
        m0 = mn0; m1 = mn1;
#pragma unroll
        for (int t = 0; t < 8; t++) { o[t][0] *= c0; o[t][1] *= c0; o[t][2] *= c1; o[t][3] *= c1; }

        // O += P V: k-chunk kc of 16 keys takes n-tiles 2kc and 2kc+1 of P as its A fragment; B (16 keys x 8 dims):
        // b0 = V[2*qlane, +1][quad], b1 = V[2*qlane + 8, +9][quad] (two rows each: 16-bit loads).
#pragma unroll
        for (int kc = 0; kc < 4; kc++) {
            unsigned pa[4] = { pack2f(s[2 * kc][0], s[2 * kc][1]), pack2f(s[2 * kc][2], s[2 * kc][3]),
                               pack2f(s[2 * kc + 1][0], s[2 * kc + 1][1]), pack2f(s[2 * kc + 1][2], s[2 * kc + 1][3]) };
            const half_t* vr = vs + (kc * 16 + 2 * qlane) * MMA_DP + quad;
#pragma unroll
            for (int t = 0; t < 8; t++) {
                if (t < ntd) {
                    unsigned b0 = pack2(vr[t * 8], vr[MMA_DP + t * 8]);
                    unsigned b1 = pack2(vr[8 * MMA_DP + t * 8], vr[9 * MMA_DP + t * 8]);
                    mma16816(o[t], pa, b0, b1);
                }
            }
        }
    }

    // Normalise and store: c0, c1 at (row i0, dims 8t + 2*qlane, +1), c2, c3 at row i1.
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    half_t* ob = out + ((long long)b * Lq) * HD + h * D;
#pragma unroll
    for (int t = 0; t < 8; t++) {
        if (t < ntd) {
            int d = t * 8 + 2 * qlane;
            if (i0 < Lq) { ob[(long long)i0 * HD + d] = f2h(o[t][0] * inv0); ob[(long long)i0 * HD + d + 1] = f2h(o[t][1] * inv0); }
            if (i1 < Lq) { ob[(long long)i1 * HD + d] = f2h(o[t][2] * inv1); ob[(long long)i1 * HD + d + 1] = f2h(o[t][3] * inv1); }
        }
    }
}
