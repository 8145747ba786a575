using PiSa.Cuda;
using PiSa.Cuda.Native;

namespace PiSa.Tests.Cuda;

/// <summary>cuBLASLt row-major GEMMs against a host product; GPU only.</summary>
public class CublasLtGemmTests
{
    [Fact]
    public void Alignment_IsTheLargestPowerOfTwoUpTo256()
    {
        Assert.Equal(256, CublasLtGemm.Alignment(0x7f00_0000_0000));
        Assert.Equal(16, CublasLtGemm.Alignment(0x7f00_0000_0010));
        Assert.Equal(2, CublasLtGemm.Alignment(0x7f00_0000_0002));
        Assert.Equal(128, CublasLtGemm.Alignment(0x80));
    }

    [GpuCublasFact]
    public void Linear_WithBiasAndRelu_MatchesTheHost()
    {
        using var ctx = CudaContext.Create();
        using var stream = CudaStream.Create();
        const int M = 37, N = 24, K = 40;
        var rng = new Random(11);
        Half[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (Half)(rng.NextDouble() * 2 - 1)).ToArray();
        var x = Rand(M * K);
        var w = Rand(N * K);
        var bias = Rand(N);
        using var dx = DeviceBuffer.FromHost<Half>(x);
        using var dw = DeviceBuffer.FromHost<Half>(w);
        using var db = DeviceBuffer.FromHost<Half>(bias);
        using var dy = DeviceBuffer.Allocate(M * N * 2);
        using var gemm = new CublasLtGemm();

        foreach (var epi in new[] { GemmEpilogue.None, GemmEpilogue.Bias, GemmEpilogue.BiasRelu })
        {
            gemm.Linear(dx.Ptr, dw.Ptr, db.Ptr, dy.Ptr, M, N, K, epi, stream);
            var y = new Half[M * N];
            dy.CopyToHost<Half>(y, 0, stream);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                {
                    double s = 0;
                    for (int t = 0; t < K; t++)
                        s += (double)x[i * K + t] * (double)w[j * K + t];
                    if (epi != GemmEpilogue.None) s += (double)bias[j];
                    if (epi == GemmEpilogue.BiasRelu) s = Math.Max(0, s);
                    Assert.True(Math.Abs((double)y[i * N + j] - s) < 2e-2, $"{epi} y[{i},{j}] = {y[i * N + j]}, expected {s}");
                }
        }
        Assert.Equal(3, gemm.CachedPlans);
    }

    [GpuCublasFact]
    public void BatchedMatmul_WithTransposes_MatchesTheHost()
    {
        using var ctx = CudaContext.Create();
        using var stream = CudaStream.Create();
        const int B = 3, M = 16, N = 8, K = 24;
        var rng = new Random(5);
        Half[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (Half)(rng.NextDouble() * 2 - 1)).ToArray();
        var a = Rand(B * K * M); // stored [K,M] per batch (transA)
        var b = Rand(B * K * N); // stored [K,N] per batch
        using var da = DeviceBuffer.FromHost<Half>(a);
        using var dbuf = DeviceBuffer.FromHost<Half>(b);
        using var dc = DeviceBuffer.Allocate(B * M * N * 4);
        using var gemm = new CublasLtGemm();
        gemm.Matmul(da.Ptr, true, dbuf.Ptr, false, dc.Ptr, M, N, K, stream, alpha: 0.5f,
            batch: B, strideA: K * M, strideB: K * N, strideC: M * N, outType: cudaDataType.CUDA_R_32F);
        var c = new float[B * M * N];
        dc.CopyToHost<float>(c, 0, stream);
        for (int q = 0; q < B; q++)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                {
                    double s = 0;
                    for (int t = 0; t < K; t++)
                        s += (double)a[q * K * M + t * M + i] * (double)b[q * K * N + t * N + j];
                    Assert.True(Math.Abs(c[q * M * N + i * N + j] - 0.5 * s) < 1e-3, $"c[{q},{i},{j}]");
                }
    }
}
