// Scaled dot-product attention on tensor cores, FlashAttention-2 structure (the version after attention_mma_f16).
// Contract of attention_f16 (attention.cu): q [B, Lq, *], k and v [B, Lk, *] fp16 with row strides ldq, ldk, ldv
// halfs (channel windows of a fused QKV / KV projection allowed), head h at channels [h*D, (h+1)*D), out a
// contiguous [B, Lq, H*D], scale 1/sqrt(D) passed in, causal masks key j > query i. Here D % 8 == 0, D <= 64, and
// every q/k/v row start is 16-byte aligned (pointers and row strides multiples of 8 halfs: the host checks), since all
// global loads are 16-byte cp.async copies.
//
// Block: 4 warps, 64 query rows (16 per warp); grid (ceil(Lq/64), H, B); static smem 46 KB:
//   qs  [64][DS]       Q tile, read once into registers (A fragments, ldmatrix.x4), later the output staging area
//   kvs [2][2][64][DS] K and V tiles of 64 keys, double-buffered: tile t+1 is copied (cp.async) while t is used
// DS = 16*KC + 8 halfs: the +8 puts consecutive rows 16 bytes apart mod 128, so the 8 row addresses of one ldmatrix
// phase (and the 8 lanes of one 16-byte cp.async phase) fall in 8 distinct 4-bank groups: no bank conflicts.
// Dims D..16*KC-1 and keys past Lk are zero-filled by cp.async (src-size 0), so padding adds nothing to QK^T and V's
// zero rows meet p = 0 (never 0 * garbage).
// Per tile and warp: S = Q K^T (16 x 64, 8*KC mma, K fragments by ldmatrix.x4), masked (tail keys, causal) only on
// the tiles that need it, online softmax in fp32 on the accumulator fragments (row max and sum over a quad, exp2 of
// scores pre-scaled by scale*log2 e), P re-packed in registers as the A fragments of P V (the C layout of two n-tiles
// is the A layout of one 16-key chunk), O += P V (8*KC mma, V fragments by ldmatrix.x4.trans). Causal: a block
// stops at its last row's key, a warp skips the tiles wholly above its rows. Fragment layouts: PTX ISA "Matrix
// Fragments for mma.m16n8k16" and "ldmatrix". The end: O / l staged through qs, stored as 16-byte row segments.
// KC = ceil(D/16) is a template parameter (one extern "C" entry per KC) so every fragment array has a fixed size.
typedef unsigned short half_t;
__device__ __forceinline__ half_t f2h(float f) { half_t h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ unsigned pack2f(float lo, float hi) { return (unsigned)f2h(lo) | ((unsigned)f2h(hi) << 16); }
// 2^x by the SFU (ex2.approx: about 2 ulp, -inf -> +0); the scores are fp16-grade already.
__device__ __forceinline__ float fa_exp2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }

#define FA_ROWS 64               // query rows per block (4 warps of 16)
#define FA_KT 64                 // keys per tile
#define FA_THREADS 128
#define FA_NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ void fa_mma(float* c, const unsigned* a, unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void fa_ldm_x4(unsigned* r, const half_t* p)
{
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

__device__ __forceinline__ void fa_ldm_x4_trans(unsigned* r, const half_t* p)
{
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

// 16 bytes global -> shared, asynchronously; bytes = 0 writes 16 zeros and reads nothing.
__device__ __forceinline__ void fa_cp16(half_t* dst, const half_t* src, int bytes)
{
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(d), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void fa_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void fa_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }

// rows x (2*KC) 16-byte chunks of a [rows][DS] tile from rows r0.. of a row-major source (row stride ld halfs):
// chunks at or past D and rows at or past rowEnd are zero-filled.
template <int KC>
__device__ __forceinline__ void fa_load_tile(half_t* dst, const half_t* src, long long ld, int r0, int rowEnd, int D)
{
    constexpr int DS = 16 * KC + 8, CH = 2 * KC;
    for (int e = threadIdx.x; e < 64 * CH; e += FA_THREADS) {
        const int r = e / CH, c = e - r * CH;
        const bool in = r0 + r < rowEnd && c * 8 < D;
        fa_cp16(dst + r * DS + c * 8, in ? src + (long long)(r0 + r) * ld + c * 8 : src, in ? 16 : 0);
    }
}

template <int KC>
__device__ __forceinline__ void attention_flash(const half_t* __restrict__ q, const half_t* __restrict__ k, const half_t* __restrict__ v,
                                                half_t* __restrict__ out, int Lq, int Lk, int H, int D, int ldq, int ldk, int ldv,
                                                float scale, int causal)
{
    constexpr int DS = 16 * KC + 8, TILE = FA_KT * DS;
    __shared__ __align__(16) half_t qs[FA_ROWS * DS];
    __shared__ __align__(16) half_t kvs[2 * 2 * TILE];     // [stage][K | V][64][DS]
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, quad = lane >> 2, qlane = lane & 3;
    const int b = blockIdx.z, h = blockIdx.y, HD = H * D;
    const int qBlock = blockIdx.x * FA_ROWS, q0 = qBlock + warp * 16;
    const float sl2 = scale * 1.4426950408889634f;         // exp(x) = exp2(x * log2 e)

    const half_t* qb = q + (long long)b * Lq * ldq + h * D;
    const half_t* kb = k + (long long)b * Lk * ldk + h * D;
    const half_t* vb = v + (long long)b * Lk * ldv + h * D;
    const int kEnd = causal ? min(Lk, qBlock + FA_ROWS) : Lk;
    const int tiles = (kEnd + FA_KT - 1) / FA_KT;

    // Group 0: Q and the first K/V tile.
    fa_load_tile<KC>(qs, qb, ldq, qBlock, Lq, D);
    if (tiles > 0) { fa_load_tile<KC>(kvs, kb, ldk, 0, Lk, D); fa_load_tile<KC>(kvs + TILE, vb, ldv, 0, Lk, D); }
    fa_commit();

    unsigned qa[KC][4];
    float o[2 * KC][4];
#pragma unroll
    for (int t = 0; t < 2 * KC; t++) { o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.0f; }
    float m0 = FA_NEG_INF, m1 = FA_NEG_INF, l0 = 0.0f, l1 = 0.0f;   // rows quad and quad + 8 of this warp
    const int i0 = q0 + quad, i1 = i0 + 8;

    for (int t = 0; t < tiles; t++) {
        const int j0 = t * FA_KT;
        if (t + 1 < tiles) {   // prefetch tile t+1 into the other stage (freed by the barrier that ended tile t-1)
            half_t* nx = kvs + ((t + 1) & 1) * 2 * TILE;
            fa_load_tile<KC>(nx, kb, ldk, j0 + FA_KT, Lk, D);
            fa_load_tile<KC>(nx + TILE, vb, ldv, j0 + FA_KT, Lk, D);
        }
        fa_commit();           // possibly empty: keeps "all but the newest group" meaning tile t
        fa_wait<1>();
        __syncthreads();
        if (t == 0) {
            // Q A fragments (16 x 16 per k-chunk): lanes 0-15 address rows 0-15 at column 16kc, lanes 16-31 at 16kc + 8;
            // registers: rows 0-7 / 8-15 of the left half, then of the right half = a0, a1, a2, a3.
#pragma unroll
            for (int kc = 0; kc < KC; kc++) fa_ldm_x4(qa[kc], qs + (warp * 16 + (lane & 15)) * DS + kc * 16 + (lane >> 4) * 8);
        }
        const half_t* ks = kvs + (t & 1) * 2 * TILE;
        const half_t* vs = ks + TILE;
        if (!(causal && j0 > q0 + 15)) {   // a causal tile wholly above this warp's rows contributes nothing
            // S = Q K^T: n-tiles of 8 keys in pairs. ldmatrix.x4 of K rows (keys) n0..n0+15: matrices (keys +0-7,
            // dims lo), (+0-7, hi), (+8-15, lo), (+8-15, hi) = b0, b1 of n-tile 2np, then b0, b1 of 2np+1.
            float s[8][4];
#pragma unroll
            for (int np = 0; np < 4; np++) {
                s[2 * np][0] = s[2 * np][1] = s[2 * np][2] = s[2 * np][3] = 0.0f;
                s[2 * np + 1][0] = s[2 * np + 1][1] = s[2 * np + 1][2] = s[2 * np + 1][3] = 0.0f;
                const half_t* kr = ks + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * DS + ((lane >> 3) & 1) * 8;
#pragma unroll
                for (int kc = 0; kc < KC; kc++) {
                    unsigned kf[4];
                    fa_ldm_x4(kf, kr + kc * 16);
                    fa_mma(s[2 * np], qa[kc], kf[0], kf[1]);
                    fa_mma(s[2 * np + 1], qa[kc], kf[2], kf[3]);
                }
            }
            // C layout: c0, c1 at (row quad, keys 2*qlane, +1), c2, c3 at row quad + 8. Masks only where a key of
            // the tile can be past Lk or above a row's diagonal.
            const bool mask = j0 + FA_KT > Lk || (causal && j0 + FA_KT - 1 > q0);
            float tm0 = FA_NEG_INF, tm1 = FA_NEG_INF;
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float x = s[nt][e] * sl2;
                    if (mask) {
                        const int j = j0 + nt * 8 + 2 * qlane + (e & 1), i = (e & 2) ? i1 : i0;
                        if (j >= Lk || (causal && j > i)) x = FA_NEG_INF;
                    }
                    s[nt][e] = x;
                    if (e & 2) tm1 = fmaxf(tm1, x); else tm0 = fmaxf(tm0, x);
                }
            }
            tm0 = fmaxf(tm0, __shfl_xor_sync(0xffffffffu, tm0, 1)); tm0 = fmaxf(tm0, __shfl_xor_sync(0xffffffffu, tm0, 2));
            tm1 = fmaxf(tm1, __shfl_xor_sync(0xffffffffu, tm1, 1)); tm1 = fmaxf(tm1, __shfl_xor_sync(0xffffffffu, tm1, 2));
            const float mn0 = fmaxf(m0, tm0), mn1 = fmaxf(m1, tm1);
            // A row with no valid key yet keeps m = -inf: its p are 0 and nothing is rescaled (2^(-inf - -inf) is NaN).
            const float c0 = mn0 == FA_NEG_INF ? 1.0f : fa_exp2(m0 - mn0), c1 = mn1 == FA_NEG_INF ? 1.0f : fa_exp2(m1 - mn1);
            const float b0 = mn0 == FA_NEG_INF ? 0.0f : mn0, b1 = mn1 == FA_NEG_INF ? 0.0f : mn1;
            float ps0 = 0.0f, ps1 = 0.0f;
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                s[nt][0] = fa_exp2(s[nt][0] - b0); s[nt][1] = fa_exp2(s[nt][1] - b0);
                s[nt][2] = fa_exp2(s[nt][2] - b1); s[nt][3] = fa_exp2(s[nt][3] - b1);
                ps0 += s[nt][0] + s[nt][1]; ps1 += s[nt][2] + s[nt][3];
            }
            ps0 += __shfl_xor_sync(0xffffffffu, ps0, 1); ps0 += __shfl_xor_sync(0xffffffffu, ps0, 2);
            ps1 += __shfl_xor_sync(0xffffffffu, ps1, 1); ps1 += __shfl_xor_sync(0xffffffffu, ps1, 2);
            l0 = l0 * c0 + ps0; l1 = l1 * c1 + ps1;
            m0 = mn0; m1 = mn1;
#pragma unroll
            for (int d = 0; d < 2 * KC; d++) { o[d][0] *= c0; o[d][1] *= c0; o[d][2] *= c1; o[d][3] *= c1; }

            // O += P V, 16 keys per k-chunk kc: A = n-tiles 2kc, 2kc+1 of P. ldmatrix.x4.trans of V rows (keys)
            // 16kc..16kc+15 and dims d0..d0+15: matrices (keys +0-7, dims +0-7), (+8-15, +0-7), (+0-7, +8-15),
            // (+8-15, +8-15) = b0, b1 of dim n-tile 2dp, then b0, b1 of 2dp+1.
#pragma unroll
            for (int kc = 0; kc < 4; kc++) {
                const unsigned pa[4] = { pack2f(s[2 * kc][0], s[2 * kc][1]), pack2f(s[2 * kc][2], s[2 * kc][3]),
                                         pack2f(s[2 * kc + 1][0], s[2 * kc + 1][1]), pack2f(s[2 * kc + 1][2], s[2 * kc + 1][3]) };
                const half_t* vr = vs + (kc * 16 + (lane & 7) + (((lane >> 3) & 1) << 3)) * DS + (lane >> 4) * 8;
#pragma unroll
                for (int dp = 0; dp < KC; dp++) {
                    unsigned vf[4];
                    fa_ldm_x4_trans(vf, vr + dp * 16);
                    fa_mma(o[2 * dp], pa, vf[0], vf[1]);
                    fa_mma(o[2 * dp + 1], pa, vf[2], vf[3]);
                }
            }
        }
        __syncthreads();       // this stage is read: the next iteration's prefetch may overwrite it
    }
    fa_wait<0>();              // no copy may still be in flight into qs (Lk = 0: Q was never waited for)
    __syncthreads();

    // O / l into this warp's 16 rows of qs (c0, c1 at (row quad, dims 8d + 2*qlane, +1), c2, c3 at row quad + 8),
    // then 16-byte row segments to out: 2*KC chunks per row, 32 lanes cover 16 / KC rows per pass.
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    half_t* os = qs + warp * 16 * DS;
#pragma unroll
    for (int d = 0; d < 2 * KC; d++) {
        *reinterpret_cast<unsigned*>(os + quad * DS + d * 8 + 2 * qlane) = pack2f(o[d][0] * inv0, o[d][1] * inv0);
        *reinterpret_cast<unsigned*>(os + (quad + 8) * DS + d * 8 + 2 * qlane) = pack2f(o[d][2] * inv1, o[d][3] * inv1);
    }
    __syncwarp();
    half_t* ob = out + (long long)b * Lq * HD + h * D;
    for (int e = lane; e < 16 * 2 * KC; e += 32) {
        const int r = e / (2 * KC), c = e - r * (2 * KC), i = q0 + r;
        if (i < Lq && c * 8 < D)
            *reinterpret_cast<uint4*>(ob + (long long)i * HD + c * 8) = *reinterpret_cast<const uint4*>(os + r * DS + c * 8);
    }
}

// One entry per KC = ceil(D/16) (head dims 8-16, 24-32, 40-48, 56-64); same parameters as attention_f16.
// k2 asks for 4 blocks per SM: with plain (128) NVRTC 11.8's ptxas picked 80 registers for sm_90 and spilled 8 bytes
// (KernelCompileTests); with the hint it takes 95 and spills nothing.
extern "C" __global__ void __launch_bounds__(128) attention_flash_f16_k1(
    const half_t* __restrict__ q, const half_t* __restrict__ k, const half_t* __restrict__ v, half_t* __restrict__ out,
    int Lq, int Lk, int H, int D, int ldq, int ldk, int ldv, float scale, int causal)
{ attention_flash<1>(q, k, v, out, Lq, Lk, H, D, ldq, ldk, ldv, scale, causal); }

extern "C" __global__ void __launch_bounds__(128, 4) attention_flash_f16_k2(
    const half_t* __restrict__ q, const half_t* __restrict__ k, const half_t* __restrict__ v, half_t* __restrict__ out,
    int Lq, int Lk, int H, int D, int ldq, int ldk, int ldv, float scale, int causal)
{ attention_flash<2>(q, k, v, out, Lq, Lk, H, D, ldq, ldk, ldv, scale, causal); }

extern "C" __global__ void __launch_bounds__(128) attention_flash_f16_k3(
    const half_t* __restrict__ q, const half_t* __restrict__ k, const half_t* __restrict__ v, half_t* __restrict__ out,
    int Lq, int Lk, int H, int D, int ldq, int ldk, int ldv, float scale, int causal)
{ attention_flash<3>(q, k, v, out, Lq, Lk, H, D, ldq, ldk, ldv, scale, causal); }

extern "C" __global__ void __launch_bounds__(128) attention_flash_f16_k4(
    const half_t* __restrict__ q, const half_t* __restrict__ k, const half_t* __restrict__ v, half_t* __restrict__ out,
    int Lq, int Lk, int H, int D, int ldq, int ldk, int ldv, float scale, int causal)
{ attention_flash<4>(q, k, v, out, Lq, Lk, H, D, ldq, ldk, ldv, scale, causal); }
