// Shape kernels on NHWC / [rows, C] fp16 tensors: nearest upsampling, channel concat/slice, spatial crop.
// Flat grid-stride loops over the OUTPUT elements (grid = ceil(n / 256) capped, 256 threads).
typedef unsigned short half_t;
#define GRID_STRIDE(i, n) for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += gridDim.x * blockDim.x)

// Nearest to any size, PyTorch 'nearest' rule: src = floor(dst * in / out) (exact for 2x). n = N*OH*OW*C.
extern "C" __global__ void upsample_nearest_f16(const half_t* __restrict__ x, half_t* __restrict__ y, int n,
                                                int H, int W, int C, int OH, int OW)
{
    GRID_STRIDE(i, n) {
        int c = i % C; int p = i / C;
        int ox = p % OW; p /= OW;
        int oy = p % OH; int b = p / OH;
        int iy = (int)(((long long)oy * H) / OH), ix = (int)(((long long)ox * W) / OW);
        y[i] = x[(((long long)b * H + iy) * W + ix) * C + c];
    }
}

// a [rows, Ca] ++ b [rows, Cb] -> y [rows, Ca+Cb]; n = rows*(Ca+Cb).
extern "C" __global__ void concat_channels_f16(const half_t* __restrict__ a, const half_t* __restrict__ b, half_t* __restrict__ y,
                                               int n, int Ca, int Cb)
{
    int C = Ca + Cb;
    GRID_STRIDE(i, n) {
        int r = i / C, c = i - r * C;
        y[i] = c < Ca ? a[(long long)r * Ca + c] : b[(long long)r * Cb + (c - Ca)];
    }
}

// x [rows, C] -> y [rows, count] = x[:, start:start+count]; n = rows*count.
extern "C" __global__ void slice_channels_f16(const half_t* __restrict__ x, half_t* __restrict__ y, int n, int C, int start, int count)
{
    GRID_STRIDE(i, n) {
        int r = i / count, c = i - r * count;
        y[i] = x[(long long)r * C + start + c];
    }
}

// x [N, H, W, C] -> y [N, OH, OW, C] = x[:, y0:y0+OH, x0:x0+OW, :]; n = N*OH*OW*C.
extern "C" __global__ void crop_spatial_f16(const half_t* __restrict__ x, half_t* __restrict__ y, int n,
                                            int H, int W, int C, int y0, int x0, int OH, int OW)
{
    GRID_STRIDE(i, n) {
        int c = i % C; int p = i / C;
        int ox = p % OW; p /= OW;
        int oy = p % OH; int b = p / OH;
        y[i] = x[(((long long)b * H + y0 + oy) * W + x0 + ox) * C + c];
    }
}
