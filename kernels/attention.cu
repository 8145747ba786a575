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
