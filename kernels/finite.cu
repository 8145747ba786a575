// Non-finite check for the pipeline's per-stage guard: fp16 overflows to inf above 65504 and the next
// GroupNorm turns one inf into NaN everywhere, so every stage's output is counted before it is used.
//
// count_nonfinite_f16: how many fp16 values of x are NaN or +-inf (exponent bits all ones; an integer
// test, so no float compare can be fooled by NaN). No atomics: each block grid-strides over x, reduces
// its 256 per-thread counts in shared memory and writes one partial count to partial[blockIdx.x]; the
// host sums the gridDim.x partials. Launch: 256 threads, grid = min(ceil(n / 256), 1024) blocks.
typedef unsigned short half_t;

extern "C" __global__ void count_nonfinite_f16(const half_t* __restrict__ x, int* __restrict__ partial, int n)
{
    __shared__ int counts[256];
    int c = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        c += (x[i] & 0x7c00) == 0x7c00;
    counts[threadIdx.x] = c;
    __syncthreads();
    for (int s = 128; s > 0; s >>= 1) {
        if (threadIdx.x < s) counts[threadIdx.x] += counts[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = counts[0];
}
