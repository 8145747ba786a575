namespace PiSa.Tests.Cuda;

/// <summary>Small CUDA sources for the compiler and GPU tests. No headers: NVRTC 11.8 has no cuda_fp16.h.</summary>
internal static class TestKernels
{
    /// <summary>
    /// One warp multiplies a 16x16 fp16 tile by a 16x8 tile with mma.sync (fp32 accumulate). Inputs are
    /// fp32, converted with cvt.rn.f16.f32; the output is fp32 D[16][8], row-major. A is row-major 16x16,
    /// B is given as B[k][n] row-major 16x8.
    /// </summary>
    public const string Mma = """
        typedef unsigned short half_bits;

        __device__ __forceinline__ half_bits f32_to_f16(float f) {
            half_bits h;
            asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
            return h;
        }

        __device__ __forceinline__ unsigned pack2(float lo, float hi) {
            return (unsigned)f32_to_f16(lo) | ((unsigned)f32_to_f16(hi) << 16);
        }

        extern "C" __global__ void mma_16x8x16(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ D) {
            const int lane = threadIdx.x & 31;
            const int g = lane >> 2;      // group id: row within the 8-row half
            const int t = lane & 3;       // thread in group
            // A fragment (row-major 16x16): a0,a1: row g, cols 2t,2t+1; a2,a3: row g+8; a4..a7: cols +8.
            unsigned a[4];
            a[0] = pack2(A[g * 16 + 2 * t],           A[g * 16 + 2 * t + 1]);
            a[1] = pack2(A[(g + 8) * 16 + 2 * t],     A[(g + 8) * 16 + 2 * t + 1]);
            a[2] = pack2(A[g * 16 + 2 * t + 8],       A[g * 16 + 2 * t + 9]);
            a[3] = pack2(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9]);
            // B fragment ("col" layout, 16x8): b0,b1: rows 2t,2t+1, col g; b2,b3: rows 2t+8, 2t+9.
            unsigned b[2];
            b[0] = pack2(B[(2 * t) * 8 + g],     B[(2 * t + 1) * 8 + g]);
            b[1] = pack2(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g]);
            float c[4] = {0.f, 0.f, 0.f, 0.f};
            asm volatile(
                "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
            // C/D fragment: c0,c1: row g, cols 2t,2t+1; c2,c3: row g+8.
            D[g * 8 + 2 * t]           = c[0];
            D[g * 8 + 2 * t + 1]       = c[1];
            D[(g + 8) * 8 + 2 * t]     = c[2];
            D[(g + 8) * 8 + 2 * t + 1] = c[3];
        }
        """;

    /// <summary>y[i] = a * x[i] + y[i], for launches and graph replays.</summary>
    public const string Axpy = """
        extern "C" __global__ void axpy(float a, const float* __restrict__ x, float* __restrict__ y, int n) {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) y[i] = a * x[i] + y[i];
        }
        """;

    /// <summary>A C++ error on line 2: an undeclared identifier.</summary>
    public const string Broken = """
        extern "C" __global__ void broken(float* y) {
            y[threadIdx.x] = undeclared_thing;
        }
        """;

    /// <summary>Valid C++ with an invalid PTX instruction: only ptxas (sm_XX targets) can reject it.</summary>
    public const string BadInlinePtx = """
        extern "C" __global__ void bad_ptx(float* y) {
            float v;
            asm("not.a.real.instruction.f32 %0;" : "=f"(v));
            y[threadIdx.x] = v;
        }
        """;
}
