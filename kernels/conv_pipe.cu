// 2-D convolution of NHWC fp16 activations as a pipelined implicit GEMM on tensor cores: the fast version of
// conv.cu's conv2d_igemm_f16 (kept as the reference version). Same GEMM view and weight packing:
//
//   M = N*OH*OW output pixels (rows), O output channels (columns), K = KH*KW*C reduction, k = (ky*KW + kx)*C + ci;
//   A[m][k] = x[n, oy*stride - padTop + ky, ox*stride - padLeft + kx, ci] (zero outside the image);
//   B[k][o] = w[o*Kp + k] (packed [O][KH][KW][C], rows zero-padded to Kp = K rounded up to 8).
//
// Three block tiles (LaunchMath.ChooseConvPlan picks one per shape): 128x128 (8 warps as 2x4, 64x32 per warp,
// 3 stages), 128x64 (4 warps 2x2, 64x32 per warp, 4 stages) and 64x64 (4 warps 2x2, 32x32 per warp, 4 stages);
// BK = 32. Per stage, A (the im2col gather) and B (packed weights) are copied global -> shared with 16-byte
// cp.async (src-size 0 zero-fills padding taps, M tails and K tails) when C % 8 == 0; for other C (the first
// conv's C = 3/4, linear layers with odd inF) A is gathered element by element with ordinary loads into the same
// stage buffer. Fragments come from ldmatrix (.x4: one A m16k16 or two B n8k16 per instruction); shared rows are
// padded to 40 halfs (80 bytes) so the 8 row addresses of each ldmatrix phase fall in 8 distinct 16-byte bank groups.
//
// No integer division in the main loop: the output pixel of each tile row (n*H*W, top-left input row and column)
// is computed once into a shared table, and each thread walks its k column's (ky, kx, ci) forward by BK per tile
// with subtractions (the first position takes one division, before the loop).
//
// Pipeline (STAGES buffers, one cp.async group per tile, committed even when empty so counts stay aligned):
//   prologue: tiles 0..S-2 in flight;  iteration t: wait until tile t has landed (wait_group S-2), barrier (also
//   frees the buffer computed in t-1), issue tile t+S-1 into that buffer, compute tile t.
//
// Split-K: gridDim.z splits of kTilesPerSplit k-tiles each. With gridDim.z == 1 the epilogue is fused:
//   y = act(acc + bias) + residual, act = SiLU when silu != 0 (bias and residual optional);
// otherwise each split stores its fp32 partial sums (no bias) into partial[z][M][O] and conv_splitk_reduce_f16
// adds the splits in order 0..S-1 (deterministic, no atomics) and applies the same epilogue.
// Epilogue: the accumulators are staged through shared memory (fp32, reusing the pipeline buffers) so each thread
// then writes 8 consecutive channels with one 16-byte store (O % 8 == 0; a scalar tail otherwise).
//
// Fusions (issue 9 item 4), each folded into addressing or the epilogue so the intermediate tensor never exists:
// - GEGLU (geglu = F > 0): the weight's 2F rows are packed in groups of 16 (WeightPacking.PackGegluWeight): rows
//   16g..16g+7 are value channels 8g..8g+7, rows 16g+8..16g+15 the matching gate channels F+8g.. (zero rows past F),
//   O = 16*ceil(F/8). A 16-column chunk of the staged tile then holds 8 values and their 8 gates, and the epilogue
//   writes y[m][8g + e] = (v_e + bias) * gelu(g_e + bias), y being [M][F]; no residual or SiLU with it.
// - The _gather kernels (template GATHER) read the im2col A through a general address instead of the incremental
//   offset: the input may be the nearest 2x upsampling of x (up = 1: H and W are the upsampled sizes, pixel
//   (iy, ix) reads x at (iy >> 1, ix >> 1), x being (H+1)/2 x (W+1)/2: H = 2*Hx, or 2*Hx - 1 for the UNet's odd skip
//   sizes, where the last row of the 2x tensor is cropped) and/or the channel concat of x (channels [0, C1)) and x2
//   (channels [C1, C)). A pixel's element offset is then ((n*Hx + (iy >> up))*Wx + (ix >> up)) * Cx + ci: a
//   multiply-add more per 16-byte chunk than the plain walk, which the plain kernels keep. With concat, the 16-byte
//   path needs C1 % 8 == 0 too, so that no chunk straddles the two tensors.
//
// Hopper (WG = true; compiled only with -DPISA_WGMMA, for sm_90a, or compute_90 for the PTX interpreter): the same
// tiles, loads, walk and epilogue, but each warpgroup (4 warps, tile rows 64*wg..64*wg+63) multiplies its rows by the
// whole BN-column B tile with one wgmma.mma_async m64nBNk16 per k16 step straight from shared memory, instead of
// ldmatrix + mma.sync. The stage buffers then hold
// each operand in the descriptor's canonical K-major layout without swizzle: "core matrices" of 8 rows x 8 halfs,
// 128 contiguous bytes each, the 4 core matrices of a k-tile's 8 rows next to each other (leading-dimension offset
// LBO = 128 bytes between k chunks), 8-row groups 512 bytes apart (stride offset SBO). The loader maps 8 consecutive
// lanes to the 8 rows of one core matrix, so each 128-byte phase of its 16-byte cp.async writes is conflict-free.
// Shared memory written by cp.async (generic proxy) is made visible to wgmma (async proxy) by each writer's
// fence.proxy.async after its cp.async.wait_group and before the barrier. Each tile's two wgmma form one group that
// stays in flight while the next tile is waited for and issued (wait_group 1 after the next tile's group): the
// buffer a group reads is refilled two iterations later, after the wait that completed it and a barrier, so the
// copies run STAGES - 2 tiles ahead instead of STAGES - 1.
typedef unsigned short half_t;
__device__ __forceinline__ half_t f2h(float f) { half_t h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float h2f(half_t h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }

#define PIPE_BK 32
#define PIPE_SK (PIPE_BK + 8)   // smem row stride in halfs (80 bytes)

__device__ __forceinline__ unsigned smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void cp_async16(unsigned dst, const void* src, bool valid)
{
    // src-size 0: nothing is read and the 16 bytes are zero-filled (padding taps, tails).
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N)); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;"); }

__device__ __forceinline__ void ldmatrix_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, unsigned addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

__device__ __forceinline__ void mma16816(float* c, const unsigned* a, unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float apply_act(float v, int silu) { return silu ? v / (1.0f + __expf(-v)) : v; }

// The fused epilogue of one output element (fp32 sum without bias) -> fp16; shared by the main and reduce kernels.
__device__ __forceinline__ half_t epilogue1(float v, const float* bias, const half_t* residual, long long idx, int o, int silu)
{
    if (bias) v += bias[o];
    v = apply_act(v, silu);
    if (residual) v += h2f(residual[idx]);
    return f2h(v);
}

// One GEGLU output from a packed value column pc and its gate column pc + 8 (fp32 sums without bias): the exact
// (erf) GELU of diffusers' GEGLU, as elementwise.cu's geglu_f16, here before any fp16 rounding.
__device__ __forceinline__ float geglu1(float v, float gt, const float* bias, int pc)
{
    if (bias) { v += bias[pc]; gt += bias[pc + 8]; }
    return v * (0.5f * gt * (1.0f + erff(gt * 0.70710678118654752f)));
}

// Position of one k column in the (ky, kx, ci) walk, advanced by BK per tile without dividing; off is the element
// offset of (ky, kx, ci) from the window's top-left pixel, (ky*W + kx)*C + ci, kept in step.
struct KWalk {
    int k, ky, kx, ci, off;
    __device__ __forceinline__ void start(int k0, int C, int KW, int W)
    {
        k = k0; int tap = k0 / C; ci = k0 - tap * C; ky = tap / KW; kx = tap - ky * KW;
        off = (ky * W + kx) * C + ci;
    }
    __device__ __forceinline__ void next(int C, int KW, int W)
    {
        k += PIPE_BK; ci += PIPE_BK; off += PIPE_BK;
        while (ci >= C) { ci -= C; if (++kx == KW) { kx = 0; ++ky; off += (W - KW) * C; } }
    }
};

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES, bool WG = false>
struct PipeCfg {   // enum constants, not static constexpr members: those can become module-scope .global variables
    enum {
        THREADS = WARPS_M * WARPS_N * 32,
        WTM = BM / WARPS_M, WTN = BN / WARPS_N,          // warp tile
        MT = WTM / 16, NT = WTN / 8,                     // m16 and n8 tiles per warp
        ROW = WG ? PIPE_BK : PIPE_SK,                    // halfs per tile row (wgmma: unpadded core matrices)
        STAGE_HALFS = (BM + BN) * ROW,
        CS = BN + 8,                                     // fp32 staging row stride (conflict-free float2 writes)
        PIPE_BYTES = STAGES * STAGE_HALFS * 2,
        STAGING_BYTES = BM * CS * 4,
        TABLE_BYTES = BM * 3 * 4,
        SMEM = TABLE_BYTES + (PIPE_BYTES > STAGING_BYTES ? PIPE_BYTES : STAGING_BYTES),   // = LaunchMath.ConvPipeSharedBytes
    };
    static_assert(BM * PIPE_BK / 8 % THREADS == 0 && BN * PIPE_BK / 8 % THREADS == 0, "whole 16-byte chunks per thread");
    static_assert(PIPE_BK * BM % THREADS == 0 && THREADS % PIPE_BK == 0, "whole scalar rows per thread");
    static_assert(NT % 2 == 0 && TABLE_BYTES % 16 == 0, "B fragments load in pairs; tiles 16-byte aligned");
    static_assert(!WG || (THREADS == BM * 2 && (BN == 64 || BN == 128) && PIPE_BK == 32), "wgmma: one warpgroup per 64 rows");
};

// Shared offset in halfs of element (row, k) of a stage's A or B tile: padded rows for ldmatrix, or the wgmma
// descriptor's core-matrix layout (see the header).
template <bool WG> __device__ __forceinline__ int tile_off(int row, int k)
{
    if (WG) return (row >> 3) * (8 * PIPE_BK) + (k >> 3) * 64 + ((row & 7) << 3) + (k & 7);
    return row * PIPE_SK + k;
}

// ---- wgmma (sm_90a) helpers: templates, so no PTX is emitted for them unless a WG kernel instantiates them ----
// Shared-memory matrix descriptor: start address, LBO and SBO in 16-byte units (bits 0-13, 16-29, 32-45); base
// offset 0 and swizzle mode 0 (none), the canonical layout of tile_off<true>.
template <int LBO, int SBO> __device__ __forceinline__ unsigned long long wg_desc(unsigned saddr)
{
    return (unsigned long long)((saddr & 0x3FFFF) >> 4) | ((unsigned long long)(LBO >> 4) << 16) |
           ((unsigned long long)(SBO >> 4) << 32);
}
template <int I> __device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
template <int I> __device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(N) : "memory"); }
// cp.async wrote the stage through the generic proxy; wgmma reads it through the async proxy.
template <int I> __device__ __forceinline__ void proxy_fence_shared() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
// The accumulators are written asynchronously: keep the compiler from moving their reads or writes across a wait.
template <int N> __device__ __forceinline__ void wg_fence_operands(float* d)
{
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i]) :: "memory");
}
// d[64] (+)= A[64 rows][16 k] * B[128 cols][16 k]^T, both K-major from shared memory; d as the PTX ISA's m64nNk16
// accumulator fragment: d[4j + 2h + e] is row 16*(warp % 4) + lane/4 + 8h, column 8j + 2*(lane % 4) + e.
template <int N> __device__ __forceinline__ void wgmma_m64n128k16(float* d, unsigned long long da, unsigned long long db)
{
    static_assert(N == 128, "one instruction shape");
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
                 "}, %64, %65, p, 1, 1, 0, 0;\n}"
                 :
                   "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                   "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                   "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                   "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(1) : "memory");
}

// d[32] (+)= A[64 rows][16 k] * B[64 cols][16 k]^T: the same, for the 64-column tiles.
template <int N> __device__ __forceinline__ void wgmma_m64n64k16(float* d, unsigned long long da, unsigned long long db)
{
    static_assert(N == 64, "one instruction shape");
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
                 "}, %32, %33, p, 1, 1, 0, 0;\n}"
                 :
                   "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(1) : "memory");
}
// The warpgroup's instruction for a tile BN columns wide.
template <int BN> __device__ __forceinline__ void wgmma_tile(float* d, unsigned long long da, unsigned long long db)
{
    if constexpr (BN == 128) wgmma_m64n128k16<BN>(d, da, db);
    else wgmma_m64n64k16<BN>(d, da, db);
}

// The gather's address of channel ci of input pixel (iy, ix) of image n (in bounds): see the header.
struct Gather {
    const half_t* x; const half_t* x2; int C1, C2, up, Hx, Wx;
    __device__ __forceinline__ const half_t* at(int nHW, int iy, int ix, int ci) const
    {
        long long p = (long long)nHW + (long long)(iy >> up) * Wx + (ix >> up);
        return ci < C1 ? x + p * C1 + ci : x2 + p * C2 + (ci - C1);
    }
};

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES, bool GATHER, bool WG = false>
__device__ __forceinline__ void conv_pipe(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{
    typedef PipeCfg<BM, BN, WARPS_M, WARPS_N, STAGES, WG> P;
    extern __shared__ __align__(16) unsigned char smem[];
    int* sPix = reinterpret_cast<int*>(smem);   // per tile row: n*H*W, top-left input row, column of its window
    int* sIy = sPix + BM;
    int* sIx = sIy + BM;
    half_t* pipe = reinterpret_cast<half_t*>(smem + P::TABLE_BYTES);   // [STAGES][A: BM rows | B: BN rows] (tile_off)

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int M = N * OH * OW, K = KH * KW * C;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int kTiles = (Kp + PIPE_BK - 1) / PIPE_BK;
    const int kt0 = blockIdx.z * kTilesPerSplit;
    const int nT = min(kTilesPerSplit, kTiles - kt0);

    Gather g;   // only the GATHER kernels use it
    g.x = x; g.x2 = x2; g.C1 = GATHER ? C1 : C; g.C2 = C - g.C1; g.up = GATHER ? up : 0;
    g.Hx = (H + g.up) >> g.up; g.Wx = (W + g.up) >> g.up;
    for (int r = tid; r < BM; r += P::THREADS) {
        int m = m0 + r;
        if (m < M) {
            int ox = m % OW, t = m / OW, oy = t % OH, n = t / OH;
            sPix[r] = n * g.Hx * g.Wx; sIy[r] = oy * stride - padTop; sIx[r] = ox * stride - padLeft;
        } else { sPix[r] = 0; sIy[r] = -(1 << 29); sIx[r] = -(1 << 29); }   // never inside the image
    }
    __syncthreads();

    const bool vec = (C & 7) == 0 && (g.C1 & 7) == 0;
    // 16-byte path: thread owns chunk column kc of rows chunkRow(i) (A and B alike): kc = (tid & 3) * 8 and rows
    // tid/4 + i*THREADS/4; with WG, 8 consecutive lanes take the 8 rows of one core matrix, lanes 8q.. chunk q.
    // Scalar path: thread owns k column tid % 32 of rows tid/32 + i*THREADS/32.
    const int kc = WG ? ((tid >> 3) & 3) * 8 : (tid & 3) * 8;
    auto chunkRow = [&](int i) { return WG ? (((tid >> 5) + i * (P::THREADS / 32)) << 3) + (tid & 7) : (tid >> 2) + i * (P::THREADS / 4); };
    const int kcol = vec ? kc : (tid & 31);
    KWalk wa;
    wa.start(kt0 * PIPE_BK + kcol, C, KW, W);
    int kb = kt0 * PIPE_BK + kc;   // the B chunk's k (B rows are always 16-byte loads)

    // Loop-invariant addressing, computed once: the 16-byte path's rows (window origin and its element offset) and
    // every shared address as a stage-0 byte offset (a stage adds STAGE_HALFS * 2).
    enum { A_CH = BM * PIPE_BK / 8 / P::THREADS, B_CH = BN * PIPE_BK / 8 / P::THREADS };
    const unsigned pipeS = smem_addr(pipe);
    int rIy[A_CH], rIx[A_CH];
    long long rBase[A_CH];
    int rN[A_CH];
    unsigned aDst[A_CH], bDst[B_CH];
    const half_t* bSrc[B_CH];
    bool bOk[B_CH];
#pragma unroll
    for (int i = 0; i < A_CH; i++) {
        int row = chunkRow(i);
        rIy[i] = sIy[row]; rIx[i] = sIx[row];
        rBase[i] = ((long long)sPix[row] + (long long)rIy[i] * W + rIx[i]) * C;
        rN[i] = sPix[row];
        aDst[i] = pipeS + tile_off<WG>(row, kc) * 2;
        asm("" : "+r"(aDst[i]));   // opaque: kept in a register, not re-derived from tid in the k loop
    }
#pragma unroll
    for (int i = 0; i < B_CH; i++) {
        int row = chunkRow(i), o = n0 + row;
        bDst[i] = pipeS + tile_off<WG>(BM + row, kc) * 2;
        asm("" : "+r"(bDst[i]));
        bOk[i] = o < O;
        bSrc[i] = w + (long long)(bOk[i] ? o : 0) * Kp;
    }

    auto load_tile = [&](int stage) {
        const unsigned so = stage * (P::STAGE_HALFS * 2);
        if (vec) {
#pragma unroll
            for (int i = 0; i < A_CH; i++) {
                int iy = rIy[i] + wa.ky, ix = rIx[i] + wa.kx;
                bool ok = wa.k < K && (unsigned)iy < (unsigned)H && (unsigned)ix < (unsigned)W;
                const half_t* src = x;
                if (ok) src = GATHER ? g.at(rN[i], iy, ix, wa.ci) : x + (rBase[i] + wa.off);
                cp_async16(aDst[i] + so, src, ok);
            }
        } else {
            half_t* As = pipe + stage * P::STAGE_HALFS;
#pragma unroll 4
            for (int i = 0; i < BM * PIPE_BK / P::THREADS; i++) {
                int row = (tid >> 5) + i * (P::THREADS / 32);
                int iy = sIy[row] + wa.ky, ix = sIx[row] + wa.kx;
                half_t v = 0;
                if (wa.k < K && (unsigned)iy < (unsigned)H && (unsigned)ix < (unsigned)W)
                    v = GATHER ? *g.at(sPix[row], iy, ix, wa.ci) : x[((long long)sPix[row] + (long long)iy * W + ix) * C + wa.ci];
                As[tile_off<WG>(row, kcol)] = v;
            }
        }
#pragma unroll
        for (int i = 0; i < B_CH; i++) {
            bool ok = bOk[i] && kb < Kp;
            cp_async16(bDst[i] + so, ok ? bSrc[i] + kb : w, ok);
        }
        wa.next(C, KW, W);
        kb += PIPE_BK;
    };

    float acc[P::MT][P::NT][4];
#pragma unroll
    for (int i = 0; i < P::MT; i++)
#pragma unroll
        for (int j = 0; j < P::NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;
    float wacc[WG ? BN / 2 : 1];   // the warpgroup's m64nBN accumulator fragment (WG only)
#pragma unroll
    for (int i = 0; i < (WG ? BN / 2 : 1); i++) wacc[i] = 0.0f;

    const int wm = (warp / WARPS_N) * P::WTM, wn = (warp % WARPS_N) * P::WTN;
    // ldmatrix row addresses in stage 0. A m16k16 (row-major): lanes 0-15 address rows 0-15 at column 0, lanes 16-31
    // the same rows at column 8; matrices 0..3 are then exactly a0 (rows 0-7, k 0-7), a1 (rows 8-15), a2 (k 8-15),
    // a3. B (Bs is [n][k], the .col layout): matrix q = lane/8 covers n rows (q/2)*8.. and k (q%2)*8..; an n8
    // tile's b0 is k 0-7 and b1 is k 8-15, so one x4 gives two n8 tiles.
    unsigned aLd[P::MT], bLd[P::NT / 2];
#pragma unroll
    for (int mt = 0; mt < P::MT; mt++) aLd[mt] = pipeS + ((wm + mt * 16 + (lane & 15)) * PIPE_SK + (lane >> 4) * 8) * 2;
#pragma unroll
    for (int nt = 0; nt < P::NT; nt += 2)
        bLd[nt / 2] = pipeS + ((BM + (wn + nt * 8 + (lane >> 4) * 8 + (lane & 7))) * PIPE_SK + ((lane >> 3) & 1) * 8) * 2;

    // wgmma descriptors of stage 0: this warpgroup's 64 rows of A and all BN rows of B, K-major core matrices with
    // LBO 128 bytes (next k chunk) and SBO 512 bytes (next 8 rows); see the header.
    const unsigned long long descA0 = wg_desc<128, 8 * PIPE_BK * 2>(pipeS + (warp >> 2) * 64 * PIPE_BK * 2);
    const unsigned long long descB0 = wg_desc<128, 8 * PIPE_BK * 2>(pipeS + BM * PIPE_BK * 2);
    // Tiles in flight ahead of the one computed: STAGES - 1; with WG one fewer, because the buffer the previous
    // tile's wgmma group reads is still busy while this tile's group is issued (it is waited for one tile later).
    enum { AHEAD = WG ? STAGES - 2 : STAGES - 1 };
#pragma unroll
    for (int s = 0; s < AHEAD; s++) {
        if (s < nT) load_tile(s);
        cp_async_commit();
    }
    int cstage = 0, lstage = AHEAD;   // buffer computed now, buffer loaded now
    for (int t = 0; t < nT; t++) {
        cp_async_wait<AHEAD - 1>();    // this thread's copies of tile t have landed ...
        if (WG) proxy_fence_shared<0>();   // ... and are visible to the async proxy (wgmma) ...
        __syncthreads();               // ... everyone's too, and everyone is done with tile t-1's buffer
        if (t + AHEAD < nT) load_tile(lstage);   // into the buffer of tile t-1 (t-2 with WG), free since the barrier
        cp_async_commit();

        const unsigned so = cstage * (P::STAGE_HALFS * 2);
        if constexpr (WG) {
            // The stage's descriptors: stage 0's plus the stage offset in the 16-byte units of the start-address
            // field (the sum stays below 2^14 for any shared address, so nothing carries into LBO); k16 step kk
            // starts kk/8 core matrices (kk*16 bytes, kk units) in.
            const unsigned long long dA = descA0 + (so >> 4), dB = descB0 + (so >> 4);
            // wgmma.fence: required before the first wgmma on registers the threads wrote (the zeroing); between
            // chained wgmma on the same accumulators it is not, and costs little. The operand fences keep the
            // compiler from placing moves of the accumulators between asynchronous instructions (as CUTLASS does).
            wg_fence_operands<BN / 2>(wacc);
            wg_fence<0>();
#pragma unroll
            for (int kk = 0; kk < PIPE_BK; kk += 16)
                wgmma_tile<BN>(wacc, dA + kk, dB + kk);
            wg_commit<0>();
            // tile t-1's group is done (its buffer is refilled next iteration, after the barrier); tile t's stays
            // in flight behind the next iteration's wait, barrier and copies
            wg_wait<1>();
            wg_fence_operands<BN / 2>(wacc);
        } else {
#pragma unroll
            for (int kk = 0; kk < PIPE_BK; kk += 16) {
                unsigned a[P::MT][4], b[P::NT][2];
#pragma unroll
                for (int mt = 0; mt < P::MT; mt++) ldmatrix_x4(a[mt][0], a[mt][1], a[mt][2], a[mt][3], aLd[mt] + so + kk * 2);
#pragma unroll
                for (int nt = 0; nt < P::NT; nt += 2) ldmatrix_x4(b[nt][0], b[nt][1], b[nt + 1][0], b[nt + 1][1], bLd[nt / 2] + so + kk * 2);
#pragma unroll
                for (int mt = 0; mt < P::MT; mt++)
#pragma unroll
                    for (int nt = 0; nt < P::NT; nt++) mma16816(acc[mt][nt], a[mt], b[nt][0], b[nt][1]);
            }
        }
        cstage = cstage + 1 == STAGES ? 0 : cstage + 1;
        lstage = lstage + 1 == STAGES ? 0 : lstage + 1;
    }
    if constexpr (WG) {
        wg_wait<0>();    // the last tile's group: its sums are in wacc, its buffer is read
        wg_fence_operands<BN / 2>(wacc);
    }
    cp_async_wait_all();
    __syncthreads();   // every warp is done reading the pipeline buffers: reuse them for staging

    // ---- epilogue: accumulators -> fp32 staging tile Cs[BM][CS] (row gid / gid+8, cols 2*tig, 2*tig+1) ----
    float* Cs = reinterpret_cast<float*>(smem + P::TABLE_BYTES);
    const int gid = lane >> 2, tig = lane & 3;
    if constexpr (WG) {
        const int r0 = (warp >> 2) * 64 + (warp & 3) * 16 + gid;
#pragma unroll
        for (int j = 0; j < BN / 8; j++)
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
                *reinterpret_cast<float2*>(Cs + (r0 + hf * 8) * P::CS + 8 * j + 2 * tig) = make_float2(wacc[4 * j + 2 * hf], wacc[4 * j + 2 * hf + 1]);
    } else {
#pragma unroll
        for (int mt = 0; mt < P::MT; mt++)
#pragma unroll
            for (int nt = 0; nt < P::NT; nt++)
#pragma unroll
                for (int hf = 0; hf < 2; hf++) {
                    int r = wm + mt * 16 + gid + hf * 8, c = wn + nt * 8 + 2 * tig;
                    *reinterpret_cast<float2*>(Cs + r * P::CS + c) = make_float2(acc[mt][nt][2 * hf], acc[mt][nt][2 * hf + 1]);
                }
    }
    __syncthreads();

    const bool split = gridDim.z > 1;
    if (geglu && !split) {
        // ---- GEGLU: a 16-column chunk is 8 values and their 8 gates (packed so); 8 outputs of y [M][F] ----
        const int F = geglu;
        const bool vecF = (F & 7) == 0;
        for (int c = tid; c < BM * (BN / 16); c += P::THREADS) {
            int r = c / (BN / 16), c16 = (c % (BN / 16)) * 16;
            int m = m0 + r, pc = n0 + c16, f0 = pc >> 1;
            if (m >= M || f0 >= F) continue;
            const float* v = Cs + r * P::CS + c16;
            half_t out[8];
#pragma unroll
            for (int e = 0; e < 8; e++) out[e] = f2h(geglu1(v[e], v[e + 8], bias, pc + e));
            long long idx = (long long)m * F + f0;
            if (vecF) *reinterpret_cast<uint4*>(y + idx) = *reinterpret_cast<const uint4*>(out);
            else for (int e = 0; e < 8 && f0 + e < F; e++) y[idx + e] = out[e];
        }
        return;
    }
    // ---- 8 consecutive channels per thread: one 16-byte store (two for fp32 partials) where O allows ----
    const bool vecOut = (O & 7) == 0;
    for (int c = tid; c < BM * (BN / 8); c += P::THREADS) {
        int r = c / (BN / 8), c8 = (c % (BN / 8)) * 8;   // BN/8 is a power of two: shifts, not divisions
        int m = m0 + r, o = n0 + c8;
        if (m >= M || o >= O) continue;
        const float* v = Cs + r * P::CS + c8;
        long long idx = (long long)m * O + o;
        if (split) {
            float* dst = partial + (long long)blockIdx.z * M * O + idx;
            if (vecOut && o + 8 <= O) {
                reinterpret_cast<float4*>(dst)[0] = make_float4(v[0], v[1], v[2], v[3]);
                reinterpret_cast<float4*>(dst)[1] = make_float4(v[4], v[5], v[6], v[7]);
            } else
                for (int e = 0; e < 8 && o + e < O; e++) dst[e] = v[e];
        } else if (vecOut && o + 8 <= O) {
            uint4 rv = residual ? *reinterpret_cast<const uint4*>(residual + idx) : make_uint4(0u, 0u, 0u, 0u);
            const half_t* rh = reinterpret_cast<const half_t*>(&rv);
            half_t out[8];
#pragma unroll
            for (int e = 0; e < 8; e++) {
                float s = v[e];
                if (bias) s += bias[o + e];
                s = apply_act(s, silu);
                if (residual) s += h2f(rh[e]);
                out[e] = f2h(s);
            }
            *reinterpret_cast<uint4*>(y + idx) = *reinterpret_cast<const uint4*>(out);
        } else
            for (int e = 0; e < 8 && o + e < O; e++) y[idx + e] = epilogue1(v[e], bias, residual, idx + e, o + e, silu);
    }
}

#define CONV_PIPE_ARGS x, w, bias, residual, y, partial, N, H, W, C, O, OH, OW, KH, KW, stride, padTop, padLeft, Kp, kTilesPerSplit, silu, x2, C1, up, geglu

// Launch bounds: 2 blocks of 256 (4 of 128) threads per SM, i.e. up to 128 registers a thread; without the minimum
// ptxas for sm_90 capped the 64x64 tile at 64 registers and spilled. The parameters are written out in each kernel
// (not through a macro) so the signature tests read them. Kernels named _gather read through Gather.
// grid (ceil(M/128), ceil(O/128), splits), 256 threads, dynamic smem LaunchMath.ConvPipeSharedBytes
extern "C" __global__ void __launch_bounds__(256, 2) conv2d_pipe_128x128_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<128, 128, 2, 4, 3, false>(CONV_PIPE_ARGS); }
extern "C" __global__ void __launch_bounds__(256, 2) conv2d_pipe_128x128_gather_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<128, 128, 2, 4, 3, true>(CONV_PIPE_ARGS); }

#ifdef PISA_WGMMA
// Hopper twins of the three tiles (compiled only for sm_90a, or compute_90 for the PTX interpreter): one warpgroup per
// 64 tile rows, so 128x128 and 128x64 take 256 threads (2 warpgroups) and 64x64 128 (1); 5 stages (3 tiles ahead);
// grid (ceil(M/BM), ceil(O/BN), splits), dynamic smem LaunchMath.ConvPipeSharedBytes.
extern "C" __global__ void __launch_bounds__(256, 1) conv2d_wgmma_128x128_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<128, 128, 2, 4, 5, false, true>(CONV_PIPE_ARGS); }
extern "C" __global__ void __launch_bounds__(256, 1) conv2d_wgmma_128x128_gather_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<128, 128, 2, 4, 5, true, true>(CONV_PIPE_ARGS); }
extern "C" __global__ void __launch_bounds__(256, 1) conv2d_wgmma_128x64_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<128, 64, 2, 4, 5, false, true>(CONV_PIPE_ARGS); }
extern "C" __global__ void __launch_bounds__(256, 1) conv2d_wgmma_128x64_gather_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<128, 64, 2, 4, 5, true, true>(CONV_PIPE_ARGS); }
extern "C" __global__ void __launch_bounds__(128, 1) conv2d_wgmma_64x64_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<64, 64, 2, 2, 5, false, true>(CONV_PIPE_ARGS); }
extern "C" __global__ void __launch_bounds__(128, 1) conv2d_wgmma_64x64_gather_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<64, 64, 2, 2, 5, true, true>(CONV_PIPE_ARGS); }
#endif

// grid (ceil(M/128), ceil(O/64), splits), 128 threads
extern "C" __global__ void __launch_bounds__(128, 4) conv2d_pipe_128x64_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<128, 64, 2, 2, 4, false>(CONV_PIPE_ARGS); }
extern "C" __global__ void __launch_bounds__(128, 4) conv2d_pipe_128x64_gather_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<128, 64, 2, 2, 4, true>(CONV_PIPE_ARGS); }

// grid (ceil(M/64), ceil(O/64), splits), 128 threads
extern "C" __global__ void __launch_bounds__(128, 4) conv2d_pipe_64x64_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<64, 64, 2, 2, 4, false>(CONV_PIPE_ARGS); }
extern "C" __global__ void __launch_bounds__(128, 4) conv2d_pipe_64x64_gather_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, float* __restrict__ partial,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp,
    int kTilesPerSplit, int silu, const half_t* __restrict__ x2, int C1, int up, int geglu)
{ conv_pipe<64, 64, 2, 2, 4, true>(CONV_PIPE_ARGS); }

// Split-K reduction: y[i] = epilogue(sum over z = 0..splits-1 of partial[z][i]) in that fixed order; i < n = M*O.
// Grid-stride, 256 threads (LaunchMath.FlatGrid).
extern "C" __global__ void conv_splitk_reduce_f16(const float* __restrict__ partial, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y, int n, int O, int splits, int silu)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float s = 0.0f;
        for (int z = 0; z < splits; z++) s += partial[(long long)z * n + i];
        y[i] = epilogue1(s, bias, residual, i, i % O, silu);
    }
}

// Split-K reduction of a GEGLU GEMM: partial [splits][M][O] in the packed column order (see the header), y [M][F];
// i < n = M*F. Each output sums its value column and its gate column over the splits in order 0..S-1.
extern "C" __global__ void conv_splitk_reduce_geglu_f16(const float* __restrict__ partial, const float* __restrict__ bias,
    half_t* __restrict__ y, int n, int O, int F, int splits)
{
    const long long plane = (long long)(n / F) * O;   // M*O
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int m = i / F, f = i - m * F, pc = (f >> 3) * 16 + (f & 7);
        float v = 0.0f, gt = 0.0f;
        for (int z = 0; z < splits; z++) {
            const float* row = partial + z * plane + (long long)m * O;
            v += row[pc]; gt += row[pc + 8];
        }
        y[i] = f2h(geglu1(v, gt, bias, pc));
    }
}
