// Attention as GEMM - row softmax - GEMM, for one head of a large dim (the VAE mid block: D = 512, 4,096 tokens at
// 512^2 output, 16,384 at 1024^2). The two GEMMs are the runtime's linear (cuBLASLt on a GPU); these kernels only
// prepare their operands and do the softmax in between (CudaOps.Attention.cs drives them, query rows in chunks so
// the score matrix stays bounded):
//   attn_pack_rows_f16       Q (times 1/sqrt(D), as PyTorch's baddbmm alpha) or K as contiguous [rowsPadded][D]
//   attn_pack_transpose_f16  V^T as [D][rowsPadded], the [out, in] weight layout of the second GEMM
//   attn_softmax_rows_f16    S [rows][ld] -> P in place: softmax over columns < cols (causal: <= the query index),
//                            exact zeros in the rest (padding to ld, a multiple of 8, and masked keys)
// Rows past `rows` are zero in the packed operands, so padded keys score 0 and are masked by the softmax, and V^T's
// zero columns meet P's zeros.
typedef unsigned short half_t;
__device__ __forceinline__ float h2f(half_t h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ half_t f2h(float f) { half_t h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
// 2^x by the SFU (ex2.approx: about 2 ulp, -inf -> +0); P is stored in fp16 anyway.
__device__ __forceinline__ float ag_exp2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
#define AG_NEG_INF __int_as_float(0xff800000)

// dst[r][d] = r < rows ? src[r * ld + d] * scale : 0 for r < rowsPadded, d < D. Grid-stride over rowsPadded * D.
extern "C" __global__ void attn_pack_rows_f16(const half_t* __restrict__ src, half_t* __restrict__ dst, int rows, int rowsPadded,
                                              int D, int ld, float scale)
{
    const int n = rowsPadded * D;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < n; e += gridDim.x * blockDim.x) {
        const int r = e / D, d = e - r * D;
        dst[e] = r < rows ? f2h(h2f(src[(long long)r * ld + d]) * scale) : (half_t)0;
    }
}

// dst[d][r] = r < rows ? src[r * ld + d] : 0 for d < D, r < rowsPadded: 32 x 32 tiles through shared memory, so
// both the reads (along d) and the writes (along r) are coalesced. Grid (ceil(rowsPadded/32), ceil(D/32)), 32 x 8.
extern "C" __global__ void attn_pack_transpose_f16(const half_t* __restrict__ src, half_t* __restrict__ dst, int rows, int rowsPadded,
                                                   int D, int ld)
{
    __shared__ half_t t[32][34];   // row of 17 words: the column reads of the write phase hit 32 distinct banks
    const int r0 = blockIdx.x * 32, d0 = blockIdx.y * 32;
    for (int y = threadIdx.y; y < 32; y += 8) {
        const int r = r0 + y, d = d0 + threadIdx.x;
        t[y][threadIdx.x] = r < rows && d < D ? src[(long long)r * ld + d] : (half_t)0;
    }
    __syncthreads();
    for (int y = threadIdx.y; y < 32; y += 8) {
        const int d = d0 + y, r = r0 + threadIdx.x;
        if (d < D && r < rowsPadded) dst[(long long)d * rowsPadded + r] = t[threadIdx.x][y];
    }
}

__device__ __forceinline__ float ag_block_reduce(float x, bool isMax, float* red)
{
    for (int o = 16; o > 0; o >>= 1) {
        const float y = __shfl_xor_sync(0xffffffffu, x, o);
        x = isMax ? fmaxf(x, y) : x + y;
    }
    const int warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();                               // red is free (a previous reduction's readers are done)
    if ((threadIdx.x & 31) == 0) red[warp] = x;
    __syncthreads();
    x = red[0];
    for (int w = 1; w < nw; w++) x = isMax ? fmaxf(x, red[w]) : x + red[w];
    return x;
}

// One block (256 threads) per row of S [rows][ld] (fp16, already scaled): row r is query qOffset + r; keys
// j < cols, and with causal j <= qOffset + r, take part. Max, sum of exp, then P = exp / sum written over S.
extern "C" __global__ void attn_softmax_rows_f16(half_t* __restrict__ s, int rows, int cols, int ld, int qOffset, int causal)
{
    __shared__ float red[32];
    const int r = blockIdx.x;
    if (r >= rows) return;
    half_t* row = s + (long long)r * ld;
    const int end = causal ? min(cols, qOffset + r + 1) : cols;
    const float l2e = 1.4426950408889634f;
    float m = AG_NEG_INF;
    for (int j = threadIdx.x; j < end; j += blockDim.x) m = fmaxf(m, h2f(row[j]));
    m = ag_block_reduce(m, true, red);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < end; j += blockDim.x) sum += ag_exp2((h2f(row[j]) - m) * l2e);
    sum = ag_block_reduce(sum, false, red);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int j = threadIdx.x; j < ld; j += blockDim.x)
        row[j] = j < end ? f2h(ag_exp2((h2f(row[j]) - m) * l2e) * inv) : (half_t)0;
}
