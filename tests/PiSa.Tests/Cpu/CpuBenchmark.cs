using System.Diagnostics;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using Xunit.Abstractions;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

/// <summary>
/// Throughput probes, not correctness tests: they do nothing unless PISA_BENCH=1 is set
/// (`PISA_BENCH=1 dotnet test ... --filter CpuBenchmark --logger "console;verbosity=detailed"`).
/// </summary>
public class CpuBenchmark(ITestOutputHelper output)
{
    private static bool Enabled => Environment.GetEnvironmentVariable("PISA_BENCH") == "1";

    [Theory]
    [InlineData(CpuPrecision.Fp32, 64, 320)]     // UNet, 512x512 output
    [InlineData(CpuPrecision.Bf16, 64, 320)]
    [InlineData(CpuPrecision.Fp32, 256, 128)]    // VAE decoder's last block, 256x256 output
    [InlineData(CpuPrecision.Fp32, 128, 256)]
    public void Conv3x3(CpuPrecision precision, int size, int channels)
    {
        if (!Enabled) return;
        if (precision == CpuPrecision.Bf16 && !PiSa.Engine.Backends.Cpu.Bf16.Bf16Support.IsSupported) return;
        using var ops = new CpuOps(precision);
        var x = RandomCpu(1, [1, size, size, channels]);
        var w = RandomHost(2, [channels, channels, 3, 3], 0.02f);
        var b = RandomHost(3, [channels]);
        ops.Conv2d(x, w, b, 1, Pad2d.Same(1)); // packs the weight, warms the JIT
        const int reps = 6;
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) ops.Conv2d(x, w, b, 1, Pad2d.Same(1));
        double s = sw.Elapsed.TotalSeconds / reps;
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / reps;
        double gflop = 2.0 * size * size * channels * channels * 9 / 1e9;
        // Per CPU-second is the number that survives a shared, overloaded machine.
        output.WriteLine($"conv3x3 {size}x{size}x{channels}->{channels} {precision} (AVX-512 fp32 kernel: {PiSa.Engine.Backends.Cpu.X64.Fp32Avx512Kernel.Enabled}): " +
            $"{s * 1000:F1} ms wall, {gflop / s:F1} GFLOP/s on {Environment.ProcessorCount} cores, {gflop / cpu:F1} GFLOP per CPU-second");
    }

    /// <summary>The memory-bound ops of a VAE decoder block at 256x256x128 (the last up block at 256x256 output)
    /// beside its 3x3 conv, to see what the convs leave on the table.</summary>
    [Fact]
    public void VaeBlockOps_256x256x128()
    {
        if (!Enabled) return;
        using var ops = new CpuOps();
        var x = RandomCpu(1, [1, 256, 256, 128]);
        var small = RandomCpu(4, [1, 128, 128, 128]);
        var g = RandomHost(2, [128]);
        var be = RandomHost(3, [128]);
        var w = RandomHost(5, [128, 128, 3, 3], 0.02f);
        double Time(string what, Func<DeviceTensor> f)
        {
            f().Dispose();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 4; i++) f().Dispose();
            double ms = sw.Elapsed.TotalMilliseconds / 4, cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / 4;
            output.WriteLine($"{what}: {ms:F1} ms wall, {cpuMs:F1} CPU-ms");
            return ms;
        }
        Time("groupnorm(32)+silu", () => ops.GroupNorm(x, g, be, 32, 1e-6f, true));
        Time("silu", () => ops.Silu(x));
        Time("axpby (residual add)", () => ops.Axpby(x, x, 1f, 1f));
        Time("upsample nearest 2x from 128x128", () => ops.UpsampleNearest2x(small));
        Time("conv3x3 128->128", () => ops.Conv2d(x, w, g, 1, Pad2d.Same(1)));
    }

    [Fact]
    public void Attention_4096x4096_5heads()
    {
        if (!Enabled) return;
        using var ops = new CpuOps();
        var q = RandomCpu(1, [1, 4096, 320]);
        var k = RandomCpu(2, [1, 4096, 320]);
        var v = RandomCpu(3, [1, 4096, 320]);
        ops.Attention(q, k, v, 5, false);
        ops.Attention(q, k, v, 5, false);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 3; i++) ops.Attention(q, k, v, 5, false);
        double s = sw.Elapsed.TotalSeconds / 3;
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / 3;
        double gflop = 4.0 * 4096 * 4096 * 320 / 1e9;
        output.WriteLine($"attention 4096x4096, 5 heads of 64: {s * 1000:F1} ms wall, {gflop / s:F1} GFLOP/s, {gflop / cpu:F1} GFLOP per CPU-second");
    }
}

public class CpuBenchmarkSoftmax(ITestOutputHelper output)
{
    [Fact]
    public void ExpThroughput()
    {
        if (Environment.GetEnvironmentVariable("PISA_BENCH") != "1") return;
        var a = Random(1, 1 << 22, 5f);
        var b = new float[a.Length];
        for (int rep = 0; rep < 8; rep++)
        {
            var t0 = Process.GetCurrentProcess().TotalProcessorTime;
            for (int i = 0; i < a.Length; i++) b[i] = MathF.Exp(a[i]);
            var t1 = Process.GetCurrentProcess().TotalProcessorTime;
            System.Numerics.Tensors.TensorPrimitives.Exp(a, b);
            var t2 = Process.GetCurrentProcess().TotalProcessorTime;
            PiSa.Engine.Backends.Cpu.FastExp.Exp(a, b);
            var t3 = Process.GetCurrentProcess().TotalProcessorTime;
            output.WriteLine($"fast {(t3 - t2).TotalMilliseconds:F1} ms");
            
            output.WriteLine($"scalar {(t1 - t0).TotalMilliseconds:F1} ms, vector {(t2 - t1).TotalMilliseconds:F1} ms for 4M exps");
        }
        double worst = 0;
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(b[i] - Math.Exp(a[i])) / Math.Exp(a[i]));
        output.WriteLine($"vector exp worst relative error {worst:E2}");
    }
}
