using PiSa.Cuda;
using PiSa.Cuda.Native;

namespace PiSa.Tests.Cuda;

/// <summary>Runtime checks on a real GPU; skipped with the probe's reason elsewhere.</summary>
public class GpuRuntimeTests
{
    [GpuFact]
    public void Context_ReportsTheDevice()
    {
        using var ctx = CudaContext.Create();
        Assert.False(string.IsNullOrWhiteSpace(ctx.Name));
        Assert.True(ctx.ComputeCapability >= 50, ctx.ToString());
        Assert.True(ctx.SmCount > 0);
        Assert.True(ctx.TotalMemory > 1L << 30);
        Assert.True(ctx.DriverVersion >= 11000);
        var (free, total) = ctx.MemoryInfo();
        Assert.InRange(free, 1, total);
    }

    [GpuFact]
    public void Buffer_RoundTrips_AndFills()
    {
        using var ctx = CudaContext.Create();
        var data = Enumerable.Range(0, 1000).Select(i => i * 0.5f - 7f).ToArray();
        using var a = DeviceBuffer.FromHost<float>(data);
        Assert.Equal(data, a.ToArray<float>());

        using var b = DeviceBuffer.Allocate(a.Bytes);
        b.CopyFrom(a, a.Bytes);
        Assert.Equal(data, b.ToArray<float>());

        b.Fill32(BitConverter.SingleToUInt32Bits(2.5f), 10);
        var back = b.ToArray<float>();
        Assert.All(back[..10], v => Assert.Equal(2.5f, v));
        Assert.Equal(data[10..], back[10..]);

        using var stream = CudaStream.Create();
        b.Fill(0, stream);
        var zeros = new float[data.Length];
        b.CopyToHost<float>(zeros, 0, stream);
        Assert.All(zeros, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.CopyFromHost<float>(new float[1001]));
    }

    [GpuFact]
    public void AllocationFailure_NamesTheCallAndSize()
    {
        using var ctx = CudaContext.Create();
        var e = Assert.Throws<CudaException>(() => DeviceBuffer.Allocate(1L << 50));
        Assert.Equal("cuMemAlloc", e.Operation);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", e.ErrorName);
        Assert.Contains((1L << 50).ToString(), e.Message);
    }

    [GpuNvrtcFact]
    public void MmaKernel_MatchesAHostProduct()
    {
        using var ctx = CudaContext.Create();
        if (ctx.ComputeCapability < 80)
            return; // mma.m16n8k16 needs sm_80+
        var rng = new Random(3);
        var A = Enumerable.Range(0, 256).Select(_ => (float)Math.Round(rng.NextDouble() * 4 - 2, 2)).ToArray();
        var B = Enumerable.Range(0, 128).Select(_ => (float)Math.Round(rng.NextDouble() * 4 - 2, 2)).ToArray();
        var expected = new float[128];
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++)
            {
                double s = 0;
                for (int k = 0; k < 16; k++)
                    s += (double)(float)(Half)A[m * 16 + k] * (float)(Half)B[k * 8 + n];
                expected[m * 8 + n] = (float)s;
            }

        var compiled = KernelCompiler.Default.Compile("mma_test", TestKernels.Mma, ctx.SmArch);
        using var module = CudaModule.Load(compiled);
        var kernel = module.GetKernel("mma_16x8x16");
        using var dA = DeviceBuffer.FromHost<float>(A);
        using var dB = DeviceBuffer.FromHost<float>(B);
        using var dD = DeviceBuffer.Allocate(128 * sizeof(float));
        using var args = new KernelArgs();
        args.Add(dA).Add(dB).Add(dD);
        kernel.Launch(1, 32, args);
        ctx.Synchronize();
        var got = dD.ToArray<float>();
        for (int i = 0; i < 128; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) < 1e-3, $"D[{i}] = {got[i]}, expected {expected[i]}");
        Assert.True(kernel.NumRegisters > 0);
    }

    [GpuNvrtcFact]
    public void PtxTarget_IsJitCompiledByTheDriver()
    {
        using var ctx = CudaContext.Create();
        // PTX from an NVRTC newer than the driver cannot load; only check when the driver is new enough.
        var (major, minor) = KernelCompiler.NvrtcVersion;
        if (major * 1000 + minor * 10 > ctx.DriverVersion)
            return;
        var compiled = new KernelCompiler(null).Compile("axpy", TestKernels.Axpy, $"compute_{Math.Min(ctx.ComputeCapability, 80)}");
        using var module = CudaModule.Load(compiled);
        RunAxpy(module.GetKernel("axpy"), null);
    }

    [GpuNvrtcFact]
    public void GraphReplay_RepeatsTheCapturedWork_AndPoolStaysFlat()
    {
        using var ctx = CudaContext.Create();
        using var module = CudaModule.Load(KernelCompiler.Default.Compile("axpy", TestKernels.Axpy, ctx.SmArch));
        var axpy = module.GetKernel("axpy");
        using var stream = CudaStream.Create();
        using var pool = new DevicePool();
        const int n = 4096;
        using var x = pool.Rent(n * 4);
        using var y = pool.Rent(n * 4);
        x.CopyFromHost<float>(Enumerable.Repeat(1f, n).ToArray(), 0, stream);
        y.Fill(0, stream);
        pool.Rent(n * 4).Dispose(); // warm: one cached block of that class for the capture to reuse
        long allocs = pool.DriverAllocations;

        using var args = new KernelArgs();
        using var exec = CudaGraph.Capture(stream, () =>
        {
            // Rented and returned inside the capture: must come from the free list, never cuMemAlloc.
            using (var scratch = pool.Rent(n * 4)) { }
            args.Clear().Add(2f).Add(x).Add(y).Add(n);
            axpy.Launch(Dim3.Blocks(n, 256), 256, args, stream);
        });
        using var start = CudaEvent.Create();
        using var end = CudaEvent.Create();
        start.Record(stream);
        for (int i = 0; i < 5; i++)
            exec.Launch(stream);
        end.Record(stream);
        Assert.True(CudaEvent.ElapsedMs(start, end) >= 0);
        var got = new float[n];
        y.CopyToHost<float>(got, 0, stream);
        Assert.All(got, v => Assert.Equal(10f, v)); // captured once, nothing ran at capture, 5 replays
        Assert.Equal(allocs, pool.DriverAllocations);
    }

    private static void RunAxpy(CudaKernel axpy, CudaStream? stream)
    {
        const int n = 1000;
        var x = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
        var y = Enumerable.Range(0, n).Select(i => 1f).ToArray();
        using var dx = DeviceBuffer.FromHost<float>(x);
        using var dy = DeviceBuffer.FromHost<float>(y);
        using var args = new KernelArgs();
        args.Add(3f).Add(dx).Add(dy).Add(n);
        axpy.Launch(Dim3.Blocks(n, 128), 128, args, stream);
        var got = dy.ToArray<float>(stream);
        for (int i = 0; i < n; i++)
            Assert.Equal(3f * i + 1f, got[i]);
    }
}
