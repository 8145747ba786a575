using PiSa.Engine.Backends.Cuda;
using PiSa.Ptx;

namespace PiSa.Tests.Ptx;

/// <summary>
/// Proofs that the checks fail: copies of real kernels broken by a string replacement on the embedded source (so
/// they stay in step with kernels/*.cu; each replacement is asserted to apply), and tiny kernels for the rest.
/// Each must raise a PtxCheckException (or PtxLaunchException) naming the right thing.
/// </summary>
public class PtxCheckTests
{
    static string Broken(string file, string from, string to)
    {
        string src = KernelSources.Get(file).Replace("\r\n", "\n");
        Assert.True(src.Contains(from), $"{file} no longer contains the text this proof breaks: '{from}'");
        return src.Replace(from, to);
    }

    /// <summary>conv2d_igemm_f16 launch with three K tiles (Kp = 72) so the tile loop runs several times.</summary>
    internal static (PtxTestDevice Dev, object[] Args, ulong Y) ConvSetup(int C = 8, int O = 8, int H = 4, int W = 4)
    {
        int N = 1, KH = 3, KW = 3, K = KH * KW * C, Kp = (K + 7) / 8 * 8;
        var rng = new Random(21);
        var dev = new PtxTestDevice();
        var x = Enumerable.Range(0, N * H * W * C).Select(_ => (Half)(rng.NextSingle() - 0.5f)).ToArray();
        var w = new Half[O * Kp];
        for (int o = 0; o < O; o++) for (int k = 0; k < K; k++) w[o * Kp + k] = (Half)(rng.NextSingle() - 0.5f);
        var bias = Enumerable.Range(0, O).Select(_ => rng.NextSingle()).ToArray();
        ulong px = dev.Upload(x, "x"), pw = dev.Upload(w, "w"), pb = dev.Upload(bias, "bias"), py = dev.Output<Half>(N * H * W * O, "y");
        return (dev, [px, pw, pb, 0UL, py, N, H, W, C, O, H, W, KH, KW, 1, 1, 1, Kp], py);
    }

    [PtxFact]
    public void RemovingTheSyncthreadsAfterTheMmaLoopOfConvIsARace()
    {
        var src = Broken("conv.cu", "        __syncthreads();\n    }\n\n    // ---- epilogue", "    }\n\n    // ---- epilogue");
        var k = PtxCompile.Kernel("conv_race.cu", src, "conv2d_igemm_f16");
        var (dev, args, _) = ConvSetup();
        var e = PtxChecks.Expect(() => dev.Launch(k, new PtxDim3(1, 1), new PtxDim3(128), args));
        Assert.Equal(PtxCheckKind.SharedRace, e.Kind);
        Assert.Equal("conv2d_igemm_f16", e.Kernel);
        Assert.Contains("shared memory", e.BufferLabel);
        Assert.Contains("conv_race.cu:", e.SourceLocation);   // the .loc line of the access
    }

    [PtxFact]
    public void TheUnbrokenConvHasNoRaceUnderSeveralSeeds()
    {
        var k = PtxCompile.Kernel("conv.cu", KernelSources.Get("conv.cu"), "conv2d_igemm_f16");
        foreach (int seed in new[] { 0, 1, 2 })
        {
            var (dev, args, _) = ConvSetup();
            dev.Launch(k, new PtxDim3(1, 1), new PtxDim3(128), 0, new PtxLaunchOptions { Seed = seed }, args);
        }
    }

    [PtxFact]
    public void AnOffByOneBoundInAGridStrideLoopIsOutOfBounds()
    {
        var src = Broken("elementwise.cu", "threadIdx.x; i < (n);", "threadIdx.x; i <= (n);");
        var k = PtxCompile.Kernel("elementwise_oob.cu", src, "silu_f16");
        var dev = new PtxTestDevice();
        int n = 300;
        ulong px = dev.Upload(Enumerable.Range(0, n).Select(i => (Half)(i * 0.01f)).ToArray(), "x");
        ulong py = dev.Output<Half>(n, "y");
        var e = PtxChecks.Expect(() => dev.Launch(k, new PtxDim3(2), new PtxDim3(256), px, py, n));
        Assert.Equal(PtxCheckKind.OutOfBounds, e.Kind);
        Assert.Equal(new PtxDim3(1, 0, 0), e.Block);            // block and thread indices, not dimensions
        Assert.Equal(new PtxDim3(300 - 256, 0, 0), e.Thread);
        Assert.Equal(px + 600, e.Address);
        Assert.Contains("x", e.BufferLabel);
    }

    [PtxFact]
    public void ConvReadingATileRowThatWasNeverWrittenIsAnUninitialisedSharedRead()
    {
        var src = Broken("conv.cu", "if (tid < BM) {", "if (tid < BM - 1) {");
        var k = PtxCompile.Kernel("conv_uninit.cu", src, "conv2d_igemm_f16");
        var (dev, args, _) = ConvSetup();
        var e = PtxChecks.Expect(() => dev.Launch(k, new PtxDim3(1, 1), new PtxDim3(128), args));
        Assert.Equal(PtxCheckKind.UninitialisedShared, e.Kind);
        Assert.NotNull(e.Address);
    }

    const string Tiny = """
        extern "C" __global__ void early_exit_barrier(float* y) {
            if (threadIdx.x >= 16) return;
            __syncthreads();
            y[threadIdx.x] = 1.0f;
        }
        extern "C" __global__ void shfl_vs_barrier(float* y) {
            float v = threadIdx.x;
            if ((threadIdx.x & 31) < 16) v = __shfl_sync(0xffffffffu, v, 0);
            __syncthreads();
            y[threadIdx.x] = v;
        }
        extern "C" __global__ void shfl_exited(float* y) {
            if ((threadIdx.x & 31) >= 16) return;
            y[threadIdx.x] = __shfl_sync(0xffffffffu, (float)threadIdx.x, 0);
        }
        extern "C" __global__ void misaligned(const char* p, float* y) { y[0] = *(const float*)(p + 2); }
        extern "C" __global__ void nc_after_write(float* y, float* z) {
            int i = threadIdx.x;
            y[i] = 2.0f * i;
            __syncthreads();
            z[i] = __ldg(&y[(i + 1) % blockDim.x]);
        }
        extern "C" __global__ void dyn_smem(float* y) {
            extern __shared__ float s[];
            s[threadIdx.x] = threadIdx.x;
            __syncthreads();
            y[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
        }
        """;

    static PtxKernel T(string name) => PtxCompile.Kernel("check_tiny.cu", Tiny, name);

    [PtxFact]
    public void ThreadsExitingWhileOthersWaitAtABarrierIsBarrierDivergence()
    {
        var dev = new PtxTestDevice();
        ulong y = dev.Output<float>(64, "y");
        var e = PtxChecks.Expect(() => dev.Launch(T("early_exit_barrier"), new PtxDim3(1), new PtxDim3(64), y));
        Assert.Equal(PtxCheckKind.BarrierDivergence, e.Kind);
    }

    [PtxFact]
    public void AShuffleWaitingOnLanesThatWaitAtABarrierIsADeadlock()
    {
        var dev = new PtxTestDevice();
        ulong y = dev.Output<float>(64, "y");
        var e = PtxChecks.Expect(() => dev.Launch(T("shfl_vs_barrier"), new PtxDim3(1), new PtxDim3(64), y));
        Assert.Equal(PtxCheckKind.Deadlock, e.Kind);
        Assert.Contains("bar.sync", e.Message);
    }

    [PtxFact]
    public void AShuffleMaskNamingAnExitedLaneIsReported()
    {
        var dev = new PtxTestDevice();
        ulong y = dev.Output<float>(32, "y");
        var e = PtxChecks.Expect(() => dev.Launch(T("shfl_exited"), new PtxDim3(1), new PtxDim3(32), y));
        Assert.Equal(PtxCheckKind.InactiveLane, e.Kind);
        Assert.Contains("exited", e.Message);
    }

    [PtxFact]
    public void MisalignedGlobalLoadIsReported()
    {
        var dev = new PtxTestDevice();
        ulong p = dev.Upload(new byte[16], "bytes"), y = dev.Output<float>(1, "y");
        var e = PtxChecks.Expect(() => dev.Launch(T("misaligned"), new PtxDim3(1), new PtxDim3(1), p, y));
        Assert.Equal(PtxCheckKind.Misaligned, e.Kind);
        Assert.Equal(p + 2, e.Address);
        Assert.Equal("bytes", e.BufferLabel);
    }

    [PtxFact]
    public void ReadingDeviceMemoryNeverWrittenIsReported()
    {
        var k = PtxCompile.Kernel("elementwise.cu", KernelSources.Get("elementwise.cu"), "f16_to_f32");
        var dev = new PtxTestDevice();
        ulong x = dev.Output<Half>(64, "never written"), y = dev.Output<float>(64, "y");
        var e = PtxChecks.Expect(() => dev.Launch(k, new PtxDim3(1), new PtxDim3(64), x, y, 64));
        Assert.Equal(PtxCheckKind.UninitialisedGlobal, e.Kind);
        Assert.Equal("never written", e.BufferLabel);
        // with the checks off the poison (0xFFFF, a NaN) is read as the GPU would read garbage
        dev.Launch(k, new PtxDim3(1), new PtxDim3(64), 0, new PtxLaunchOptions { Checks = false }, x, y, 64);
        Assert.True(float.IsNaN(dev.Download<float>(y, 1)[0]));
    }

    [PtxFact]
    public void NonCoherentLoadOfBytesWrittenInTheSameLaunchIsReported()
    {
        var dev = new PtxTestDevice();
        ulong y = dev.Output<float>(64, "y"), z = dev.Output<float>(64, "z");
        var e = PtxChecks.Expect(() => dev.Launch(T("nc_after_write"), new PtxDim3(1), new PtxDim3(64), y, z));
        Assert.Equal(PtxCheckKind.NonCoherentRead, e.Kind);
        Assert.Equal("y", e.BufferLabel);
        // the same load in the next launch is fine: y was written by an earlier launch
        Assert.Contains("ld.global.nc.f32", PtxCompile.Module("check_tiny.cu", Tiny).InstructionForms);
    }

    [PtxFact]
    public void UseAfterFreeIsReported()
    {
        var k = PtxCompile.Kernel("elementwise.cu", KernelSources.Get("elementwise.cu"), "f16_to_f32");
        var dev = new PtxTestDevice();
        ulong x = dev.Upload(new Half[64], "freed x"), y = dev.Output<float>(64, "y");
        dev.Memory.Free(x);
        var e = PtxChecks.Expect(() => dev.Launch(k, new PtxDim3(1), new PtxDim3(64), x, y, 64));
        Assert.Equal(PtxCheckKind.UseAfterFree, e.Kind);
        Assert.Equal("freed x", e.BufferLabel);
    }

    [PtxFact]
    public void LaunchesOverTheLimitsAreRefused()
    {
        var dev = new PtxTestDevice();
        var conv = PtxCompile.Kernel("conv.cu", KernelSources.Get("conv.cu"), "conv2d_igemm_f16");
        Assert.Equal(128, conv.MaxThreadsPerBlock);
        var (cdev, args, _) = ConvSetup();
        var e1 = Assert.Throws<PtxLaunchException>(() => cdev.Launch(conv, new PtxDim3(1, 1), new PtxDim3(256), args));
        Assert.Contains(".maxntid", e1.Message);

        var k = PtxCompile.Kernel("elementwise.cu", KernelSources.Get("elementwise.cu"), "f16_to_f32");
        ulong x = dev.Upload(new Half[2048], "x"), y = dev.Output<float>(2048, "y");
        var e2 = Assert.Throws<PtxLaunchException>(() => dev.Launch(k, new PtxDim3(1), new PtxDim3(1025), x, y, 2048));
        Assert.Contains("1024", e2.Message);

        var d = T("dyn_smem");
        ulong yy = dev.Output<float>(64, "yy");
        var e3 = Assert.Throws<PtxLaunchException>(() => dev.Launch(d, new PtxDim3(1), new PtxDim3(64), 64 * 1024, new PtxLaunchOptions(), yy));
        Assert.Contains("cuFuncSetAttribute", e3.Message);
        var sm80 = new PtxLaunchOptions { MaxDynamicSharedBytes = 200 * 1024, SharedMemoryLimit = 163 * 1024 };
        var e4 = Assert.Throws<PtxLaunchException>(() => dev.Launch(d, new PtxDim3(1), new PtxDim3(64), 170 * 1024, sm80, yy));
        Assert.Contains("device limit", e4.Message);
        // raised by the attribute and within the device limit: runs
        dev.Launch(d, new PtxDim3(1), new PtxDim3(64), 100 * 1024, sm80, yy);
        Assert.Equal(1f, dev.Download<float>(yy, 1)[0]);

        var e5 = Assert.Throws<PtxLaunchException>(() => dev.Launch(k, new PtxDim3(1), new PtxDim3(64), x, y));
        Assert.Contains("arguments", e5.Message);
        var e6 = Assert.Throws<PtxLaunchException>(() => dev.Launch(k, new PtxDim3(1), new PtxDim3(64), x, y, 5L));
        Assert.Contains("bytes", e6.Message);
    }
}
