// Elementwise kernels over fp16 tensors (fp32 math). Flat grid-stride loops: every launch uses
// grid = min(ceil(n / 256), 65535 * 8) blocks of 256 threads. Element counts fit in int (< 2^31).
// NVRTC 11.8 has no cuda_fp16.h: fp16 is carried as unsigned short and converted with PTX cvt.
typedef unsigned short half_t;
__device__ __forceinline__ float h2f(half_t h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ half_t f2h(float f) { half_t h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
#define GRID_STRIDE(i, n) for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += gridDim.x * blockDim.x)

__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float silu(float x) { return x / (1.0f + __expf(-x)); }

extern "C" __global__ void f32_to_f16(const float* __restrict__ x, half_t* __restrict__ y, int n)
{ GRID_STRIDE(i, n) y[i] = f2h(x[i]); }

extern "C" __global__ void f16_to_f32(const half_t* __restrict__ x, float* __restrict__ y, int n)
{ GRID_STRIDE(i, n) y[i] = h2f(x[i]); }

extern "C" __global__ void silu_f16(const half_t* __restrict__ x, half_t* __restrict__ y, int n)
{ GRID_STRIDE(i, n) y[i] = f2h(silu(h2f(x[i]))); }

extern "C" __global__ void gelu_f16(const half_t* __restrict__ x, half_t* __restrict__ y, int n)
{ GRID_STRIDE(i, n) y[i] = f2h(gelu_erf(h2f(x[i]))); }

// x [rows, 2F] -> y [rows, F] = x[:, :F] * gelu(x[:, F:]); n = rows * F.
extern "C" __global__ void geglu_f16(const half_t* __restrict__ x, half_t* __restrict__ y, int n, int F)
{
    GRID_STRIDE(i, n) {
        int r = i / F, f = i - r * F;
        const half_t* row = x + (long long)r * 2 * F;
        y[i] = f2h(h2f(row[f]) * gelu_erf(h2f(row[F + f])));
    }
}

extern "C" __global__ void axpby_f16(const half_t* __restrict__ a, const half_t* __restrict__ b, half_t* __restrict__ y,
                                     int n, float alpha, float beta)
{ GRID_STRIDE(i, n) y[i] = f2h(alpha * h2f(a[i]) + beta * h2f(b[i])); }

extern "C" __global__ void scale_shift_f16(const half_t* __restrict__ x, half_t* __restrict__ y, int n, float scale, float shift)
{ GRID_STRIDE(i, n) y[i] = f2h(h2f(x[i]) * scale + shift); }

extern "C" __global__ void clamp_f16(const half_t* __restrict__ x, half_t* __restrict__ y, int n, float lo, float hi)
{ GRID_STRIDE(i, n) y[i] = f2h(fminf(fmaxf(h2f(x[i]), lo), hi)); }

// x [N, inner, C] + v[n * vBatchStride + c] (vBatchStride = C for a [N, C] vector, 0 for [1, C]); n = N*inner*C.
extern "C" __global__ void add_channel_vector_f16(const half_t* __restrict__ x, const half_t* __restrict__ v, half_t* __restrict__ y,
                                                  int n, int innerC, int C, int vBatchStride)
{
    GRID_STRIDE(i, n) {
        int b = i / innerC, c = i % C;
        y[i] = f2h(h2f(x[i]) + h2f(v[b * vBatchStride + c]));
    }
}
