// 2-D convolution of NHWC fp16 activations as an implicit GEMM on tensor cores
// (mma.sync.m16n8k16, fp16 inputs, fp32 accumulation).
//
//   GEMM view: M = N*OH*OW output pixels (rows), O output channels (columns), K = KH*KW*C reduction.
//   A[m][k] = x[n, oy*stride - padTop + ky, ox*stride - padLeft + kx, ci]  (zero outside the image),
//             with k = (ky*KW + kx)*C + ci;
//   B[k][o] = w[o*Kp + k]: weights pre-packed on upload as [O][KH][KW][C], each row zero-padded to Kp
//             (K rounded up to a multiple of 8) so every weight load is a 16-byte vector.
//   y[m][o] = sum_k A*B + bias[o] (+ residual[m][o]); y is NHWC [N, OH, OW, O].
// A linear layer is the same GEMM with N=1, H=1, W=rows, KH=KW=1 (the cuBLASLt fallback uses this).
//
// Block tile 64 (pixels) x 64 (channels) x 32 (k), 128 threads = 4 warps in 2x2, 32x32 per warp:
// 2 m16 tiles x 4 n8 tiles. Grid (ceil(M/64), ceil(O/64)). Static smem ~10.8 KB. Each output
// element is written by exactly one thread (no atomics). When C % 8 == 0 the activation tile is
// gathered with 16-byte loads (8 channels of one tap); otherwise a scalar path covers any C (3, 4, ...).
// Room to go faster later: cp.async double buffering, ldmatrix, larger tiles for big M.
typedef unsigned short half_t;
__device__ __forceinline__ half_t f2h(float f) { half_t h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float h2f(half_t h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }

#define BM 64
#define BN 64
#define BK 32
#define SK (BK + 8)   // smem row stride in halfs (80 bytes): fragment reads are bank-conflict free

__device__ __forceinline__ unsigned ld32(const half_t* p) { return *reinterpret_cast<const unsigned*>(p); }

__device__ __forceinline__ void mma16816(float* c, const unsigned* a, const unsigned* b)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

extern "C" __global__ void __launch_bounds__(128, 4) conv2d_igemm_f16(
    const half_t* __restrict__ x, const half_t* __restrict__ w, const float* __restrict__ bias,
    const half_t* __restrict__ residual, half_t* __restrict__ y,
    int N, int H, int W, int C, int O, int OH, int OW, int KH, int KW, int stride, int padTop, int padLeft, int Kp)
{
    __shared__ __align__(16) half_t As[BM * SK];
    __shared__ __align__(16) half_t Bs[BN * SK];
    __shared__ int sPix[BM], sIy[BM], sIx[BM];   // per tile row: n*H*W, top-left input row/col of its window

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int M = N * OH * OW, K = KH * KW * C;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;

    if (tid < BM) {
        int m = m0 + tid;
        if (m < M) {
            int ox = m % OW, t = m / OW, oy = t % OH, n = t / OH;
            sPix[tid] = n * H * W; sIy[tid] = oy * stride - padTop; sIx[tid] = ox * stride - padLeft;
        } else { sPix[tid] = 0; sIy[tid] = -(1 << 29); sIx[tid] = -(1 << 29); }   // never inside the image
    }
    __syncthreads();

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    const bool vec = (C & 7) == 0;
    const int gid = lane >> 2, tig = lane & 3;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;

    for (int k0 = 0; k0 < Kp; k0 += BK) {
        // ---- activation tile As[64][32] ----
        if (vec) {
#pragma unroll
            for (int i = 0; i < 2; i++) {
                int c = tid + i * 128, row = c >> 2, kc = (c & 3) * 8, k = k0 + kc;
                uint4 v = make_uint4(0u, 0u, 0u, 0u);
                if (k < K) {
                    int tap = k / C, ci = k - tap * C, ky = tap / KW, kx = tap - ky * KW;
                    int iy = sIy[row] + ky, ix = sIx[row] + kx;
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                        v = *reinterpret_cast<const uint4*>(x + ((long long)sPix[row] + (long long)iy * W + ix) * C + ci);
                }
                *reinterpret_cast<uint4*>(As + row * SK + kc) = v;
            }
        } else {
            int col = tid & 31, k = k0 + col;
            int tap = k / C, ci = k - tap * C, ky = tap / KW, kx = tap - ky * KW;
#pragma unroll 4
            for (int i = 0; i < 16; i++) {
                int row = (tid >> 5) + 4 * i;
                half_t v = 0;
                if (k < K) {
                    int iy = sIy[row] + ky, ix = sIx[row] + kx;
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                        v = x[((long long)sPix[row] + (long long)iy * W + ix) * C + ci];
                }
                As[row * SK + col] = v;
            }
        }
        // ---- weight tile Bs[64 channels][32 k] (rows padded to Kp: always 16-byte loads) ----
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int c = tid + i * 128, row = c >> 2, kc = (c & 3) * 8, k = k0 + kc, o = n0 + row;
            uint4 v = make_uint4(0u, 0u, 0u, 0u);
            if (o < O && k < Kp) v = *reinterpret_cast<const uint4*>(w + (long long)o * Kp + k);
            *reinterpret_cast<uint4*>(Bs + row * SK + kc) = v;
        }
        __syncthreads();

#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            unsigned a[2][4], b[4][2];
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
                const half_t* p = As + (wm + mt * 16 + gid) * SK + kk + 2 * tig;
                a[mt][0] = ld32(p);          a[mt][1] = ld32(p + 8 * SK);
                a[mt][2] = ld32(p + 8);      a[mt][3] = ld32(p + 8 * SK + 8);
            }
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                const half_t* p = Bs + (wn + nt * 8 + gid) * SK + kk + 2 * tig;
                b[nt][0] = ld32(p); b[nt][1] = ld32(p + 8);
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int nt = 0; nt < 4; nt++) mma16816(acc[mt][nt], a[mt], b[nt]);
        }
        __syncthreads();
    }

    // ---- epilogue: accumulator (row gid / gid+8, cols 2*tig, 2*tig+1) + bias (+ residual) -> fp16 ----
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int m = m0 + wm + mt * 16 + gid + half * 8;
            if (m >= M) continue;
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    int o = n0 + wn + nt * 8 + 2 * tig + e;
                    if (o >= O) continue;
                    float v = acc[mt][nt][half * 2 + e];
                    if (bias) v += bias[o];
                    long long idx = (long long)m * O + o;
                    if (residual) v += h2f(residual[idx]);
                    y[idx] = f2h(v);
                }
        }
}
