// Normalisation kernels on fp16 activations with fp32 statistics.
//
// GroupNorm takes one launch when a group is small enough for one block, two otherwise (it used to take three:
// GroupNorm was 339 of an image's 791 launches):
//   gn_fused_f16      grid N*G, LaunchMath.GroupNormFusedThreads threads, groups of at most GroupNormFusedMaxElements:
//                     per-thread Welford over the group in one pass, Chan's combination across the block, then a
//                     second pass (from L2: a group is at most 128 KB) normalises (+ SiLU) and writes y;
//   gn_partial_stats  grid (chunks, N*G), 256 threads: (count, mean, M2) of one pixel chunk of one (n, group),
//                     two-pass within the chunk (the chunk is re-read from L1/L2), so no cancellation;
//   gn_apply_partials grid (chunks, N*G), 256 threads: combines the group's partials in its prologue (the finalise
//                     step, done by every block of the group: at most 1024 partials of 12 bytes) and normalises the
//                     same chunk.
// The tiled VAE's stats-only and apply-with-given-stats ops keep their own kernels:
//   gn_finalize_stats grid ceil(N*G / 256), 256 threads: Chan's parallel combination of the chunks -> (mean, var);
//   gn_apply          flat grid-stride: (x - mean) * rsqrt(var + eps) * gamma + beta, optional SiLU.
// Layout: x [N, HW, C] (NHWC flattened, or [B, L, C]); group g owns channels [g*Cg, (g+1)*Cg). The _cat versions of
// the first three read the channel concat of two tensors in place (GnCat below).
typedef unsigned short half_t;
__device__ __forceinline__ float h2f(half_t h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ half_t f2h(float f) { half_t h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ float block_sum(float v, float* red /* [33] shared */)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();                       // red may still be read by a previous call
    if (lane == 0) red[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < nw ? red[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
        if (lane == 0) red[32] = t;
    }
    __syncthreads();
    return red[32];
}

// Chan's combination: (n, mean, m2) absorbs the statistics (nb, mb, m2b) of a disjoint set of values.
__device__ __forceinline__ void chan_merge(float& n, float& mean, float& m2, float nb, float mb, float m2b)
{
    float nt = n + nb;
    if (nb <= 0.0f) return;                // also keeps 0/0 out when both sides are empty
    float d = mb - mean, f = nb / nt;
    mean += d * f;
    m2 += m2b + d * d * n * f;
    n = nt;
}

// Block-wide Chan combination of every thread's (n, mean, m2); every thread gets the result.
// red: shared [3 * 33]; blockDim.x a multiple of 32, at most 1024.
__device__ void block_welford(float& n, float& mean, float& m2, float* red)
{
    for (int o = 16; o > 0; o >>= 1) {
        float nb = __shfl_xor_sync(0xffffffffu, n, o), mb = __shfl_xor_sync(0xffffffffu, mean, o),
              m2b = __shfl_xor_sync(0xffffffffu, m2, o);
        chan_merge(n, mean, m2, nb, mb, m2b);
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();                       // red may still be read by a previous call
    if (lane == 0) { red[warp] = n; red[33 + warp] = mean; red[66 + warp] = m2; }
    __syncthreads();
    if (warp == 0) {
        float tn = lane < nw ? red[lane] : 0.0f, tm = lane < nw ? red[33 + lane] : 0.0f, t2 = lane < nw ? red[66 + lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) {
            float nb = __shfl_xor_sync(0xffffffffu, tn, o), mb = __shfl_xor_sync(0xffffffffu, tm, o),
                  m2b = __shfl_xor_sync(0xffffffffu, t2, o);
            chan_merge(tn, tm, t2, nb, mb, m2b);
        }
        if (lane == 0) { red[32] = tn; red[65] = tm; red[98] = t2; }
    }
    __syncthreads();
    n = red[32]; mean = red[65]; m2 = red[98];
}

// What a GroupNorm reads: one tensor x [N*HW][C] (GnOne), or the channel concat of a [N*HW][C1] and b [N*HW][C2]
// (GnCat: the UNet's skip connection, read in place so the concatenated tensor is never written; a group may
// straddle the two). start(P0, c0) points it at pixel P0 (= n*HW + p0), channel c0; at(p, c) then reads pixel
// P0 + p, channel c0 + c (offsets from a base pointer, as before the concat version existed). y is always [N*HW][C].
struct GnOne {
    const half_t* x; int C; const half_t* base;
    __device__ __forceinline__ void start(long long P0, int c0) { base = x + P0 * C + c0; }
    __device__ __forceinline__ float at(int p, int c) const { return h2f(base[(long long)p * C + c]); }
};
struct GnCat {
    const half_t* a; const half_t* b; int C1, C2; const half_t* pa; const half_t* pb; int split;
    __device__ __forceinline__ void start(long long P0, int c0)
    {
        split = C1 - c0;                       // the group's channels c < split come from a
        pa = a + P0 * C1 + c0;
        pb = b + P0 * C2 - split;              // b's channel c0 + c - C1 = c - split (read only where c >= split)
    }
    __device__ __forceinline__ float at(int p, int c) const
    { return h2f(c < split ? pa[(long long)p * C1 + c] : pb[(long long)p * C2 + c]); }
};

// y over `cnt` elements of one (n, group) from pixel P0 (Cg channels from channel c0, y's pixel stride C).
// (src already start()ed at P0, c0.)
template <class S>
__device__ __forceinline__ void gn_normalise(const S& src, half_t* y, long long P0, int cnt, int Cg, int C, int c0,
                                             float mean, float rstd, const float* gamma, const float* beta, int silu)
{
    half_t* out = y + P0 * C + c0;
    for (int i = threadIdx.x; i < cnt; i += blockDim.x) {
        int p = i / Cg, c = i - p * Cg;
        float v = (src.at(p, c) - mean) * rstd * gamma[c0 + c] + beta[c0 + c];
        if (silu) v = v / (1.0f + __expf(-v));
        out[(long long)p * C + c] = f2h(v);
    }
}

// One (n, group) per block: statistics and normalisation in one launch. Per-thread Welford in fp32 (no
// sum-of-squares cancellation on data with a large mean), combined across the block with Chan's formula.
template <class S>
__device__ __forceinline__ void gn_fused(S src, const float* gamma, const float* beta, half_t* y, int HW, int C, int G, float eps, int silu)
{
    __shared__ float red[3 * 33];
    int ng = blockIdx.x, n = ng / G, g = ng - n * G, Cg = C / G;
    int cnt = HW * Cg, c0 = g * Cg;
    long long P0 = (long long)n * HW;
    src.start(P0, c0);
    float k = 0.0f, mean = 0.0f, m2 = 0.0f;
    for (int i = threadIdx.x; i < cnt; i += blockDim.x) {
        int p = i / Cg, c = i - p * Cg;
        float v = src.at(p, c);
        k += 1.0f;
        float d = v - mean;
        mean += d / k;
        m2 += d * (v - mean);
    }
    block_welford(k, mean, m2, red);
    float rstd = rsqrtf((k > 0.0f ? m2 / k : 0.0f) + eps);
    gn_normalise(src, y, P0, cnt, Cg, C, c0, mean, rstd, gamma, beta, silu);
}

extern "C" __global__ void gn_fused_f16(const half_t* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
                                        half_t* __restrict__ y, int HW, int C, int G, float eps, int silu)
{ gn_fused(GnOne{x, C, x}, gamma, beta, y, HW, C, G, eps, silu); }

// gn_fused_f16 on the concat of a (channels [0, C1)) and b (channels [C1, C)).
extern "C" __global__ void gn_fused_cat_f16(const half_t* __restrict__ a, const half_t* __restrict__ b, const float* __restrict__ gamma,
                                            const float* __restrict__ beta, half_t* __restrict__ y, int HW, int C, int G, int C1, float eps, int silu)
{ gn_fused(GnCat{a, b, C1, C - C1, a, b, 0}, gamma, beta, y, HW, C, G, eps, silu); }

// partial[((n*G + g) * chunks + chunk) * 3 + {0,1,2}] = (count, mean, M2) over pixels
// [chunk*pixPerChunk, min(HW, (chunk+1)*pixPerChunk)) and channels of group g.
template <class S>
__device__ __forceinline__ void gn_partial(S src, float* partial, int HW, int C, int G, int pixPerChunk)
{
    __shared__ float red[33];
    int chunk = blockIdx.x, chunks = gridDim.x, ng = blockIdx.y;
    int n = ng / G, g = ng - n * G, Cg = C / G, c0 = g * Cg;
    int p0 = chunk * pixPerChunk, p1 = min(HW, p0 + pixPerChunk);
    int cnt = p1 > p0 ? (p1 - p0) * Cg : 0;
    src.start((long long)n * HW + p0, c0);
    float s = 0.0f;
    for (int i = threadIdx.x; i < cnt; i += blockDim.x) { int p = i / Cg, c = i - p * Cg; s += src.at(p, c); }
    float mean = cnt > 0 ? block_sum(s, red) / (float)cnt : block_sum(0.0f, red);
    float m2 = 0.0f;
    for (int i = threadIdx.x; i < cnt; i += blockDim.x) {
        int p = i / Cg, c = i - p * Cg;
        float d = src.at(p, c) - mean; m2 += d * d;
    }
    m2 = block_sum(m2, red);
    if (threadIdx.x == 0) {
        float* o = partial + ((long long)ng * chunks + chunk) * 3;
        o[0] = (float)cnt; o[1] = cnt > 0 ? mean : 0.0f; o[2] = m2;
    }
}

extern "C" __global__ void gn_partial_stats(const half_t* __restrict__ x, float* __restrict__ partial,
                                            int HW, int C, int G, int pixPerChunk)
{ gn_partial(GnOne{x, C, x}, partial, HW, C, G, pixPerChunk); }

extern "C" __global__ void gn_partial_stats_cat(const half_t* __restrict__ a, const half_t* __restrict__ b, float* __restrict__ partial,
                                                int HW, int C, int G, int C1, int pixPerChunk)
{ gn_partial(GnCat{a, b, C1, C - C1, a, b, 0}, partial, HW, C, G, pixPerChunk); }

// meanVar[ng*2] = (mean, biased variance) combining `chunks` partials of each (n, group).
extern "C" __global__ void gn_finalize_stats(const float* __restrict__ partial, float* __restrict__ meanVar, int NG, int chunks)
{
    int ng = blockIdx.x * blockDim.x + threadIdx.x;
    if (ng >= NG) return;
    const float* p = partial + (long long)ng * chunks * 3;
    float n = 0.0f, mean = 0.0f, m2 = 0.0f;
    for (int k = 0; k < chunks; k++) {
        float nb = p[3 * k], mb = p[3 * k + 1], m2b = p[3 * k + 2];
        if (nb <= 0.0f) continue;
        float nt = n + nb, d = mb - mean;
        mean += d * (nb / nt);
        m2 += m2b + d * d * (n * nb / nt);
        n = nt;
    }
    meanVar[2 * ng] = mean;
    meanVar[2 * ng + 1] = n > 0.0f ? m2 / n : 0.0f;
}

// Second launch of a big group's GroupNorm: grid as gn_partial_stats. Every block combines all `chunks` partials
// of its (n, group) (threads split them, then block_welford), then normalises its own chunk.
template <class S>
__device__ __forceinline__ void gn_apply_part(S src, const float* partial, const float* gamma, const float* beta, half_t* y,
                                              int HW, int C, int G, int pixPerChunk, float eps, int silu)
{
    __shared__ float red[3 * 33];
    int chunk = blockIdx.x, chunks = gridDim.x, ng = blockIdx.y;
    int n = ng / G, g = ng - n * G, Cg = C / G;
    const float* pp = partial + (long long)ng * chunks * 3;
    float k = 0.0f, mean = 0.0f, m2 = 0.0f;
    for (int j = threadIdx.x; j < chunks; j += blockDim.x) chan_merge(k, mean, m2, pp[3 * j], pp[3 * j + 1], pp[3 * j + 2]);
    block_welford(k, mean, m2, red);
    float rstd = rsqrtf((k > 0.0f ? m2 / k : 0.0f) + eps);
    int p0 = chunk * pixPerChunk, p1 = min(HW, p0 + pixPerChunk);
    int cnt = p1 > p0 ? (p1 - p0) * Cg : 0;
    src.start((long long)n * HW + p0, g * Cg);
    gn_normalise(src, y, (long long)n * HW + p0, cnt, Cg, C, g * Cg, mean, rstd, gamma, beta, silu);
}

extern "C" __global__ void gn_apply_partials(const half_t* __restrict__ x, const float* __restrict__ partial,
                                             const float* __restrict__ gamma, const float* __restrict__ beta, half_t* __restrict__ y,
                                             int HW, int C, int G, int pixPerChunk, float eps, int silu)
{ gn_apply_part(GnOne{x, C, x}, partial, gamma, beta, y, HW, C, G, pixPerChunk, eps, silu); }

extern "C" __global__ void gn_apply_partials_cat(const half_t* __restrict__ a, const half_t* __restrict__ b, const float* __restrict__ partial,
                                                 const float* __restrict__ gamma, const float* __restrict__ beta, half_t* __restrict__ y,
                                                 int HW, int C, int G, int C1, int pixPerChunk, float eps, int silu)
{ gn_apply_part(GnCat{a, b, C1, C - C1, a, b, 0}, partial, gamma, beta, y, HW, C, G, pixPerChunk, eps, silu); }

// y = (x - mean) * rsqrt(var + eps) * gamma[c] + beta[c] (then SiLU if silu != 0); total = N*HW*C.
extern "C" __global__ void gn_apply(const half_t* __restrict__ x, const float* __restrict__ meanVar,
                                    const float* __restrict__ gamma, const float* __restrict__ beta, half_t* __restrict__ y,
                                    int total, int HWC, int C, int G, float eps, int silu)
{
    int Cg = C / G;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        int n = i / HWC, c = i % C, ng = n * G + c / Cg;
        float v = (h2f(x[i]) - meanVar[2 * ng]) * rsqrtf(meanVar[2 * ng + 1] + eps) * gamma[c] + beta[c];
        if (silu) v = v / (1.0f + __expf(-v));
        y[i] = f2h(v);
    }
}

// LayerNorm over the last dim: one block (128 threads) per row; two passes over the row in fp32.
extern "C" __global__ void layernorm_f16(const half_t* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
                                         half_t* __restrict__ y, int rows, int C, float eps)
{
    __shared__ float red[33];
    int r = blockIdx.x;
    if (r >= rows) return;                 // uniform per block: safe around the barriers below
    const half_t* xr = x + (long long)r * C;
    half_t* yr = y + (long long)r * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += h2f(xr[c]);
    float mean = block_sum(s, red) / (float)C;
    float q = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) { float d = h2f(xr[c]) - mean; q += d * d; }
    float rstd = rsqrtf(block_sum(q, red) / (float)C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) yr[c] = f2h((h2f(xr[c]) - mean) * rstd * gamma[c] + beta[c]);
}
