using PiSa.Engine;
using PiSa.Engine.Backends.Cuda;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// The launch path allocates nothing: CudaKernels reuses one argument block and formats its "what" only when a
/// launch fails. Measured with the thread's allocation counter around many launches on a runtime that does nothing.
/// </summary>
public class LaunchPathAllocationTests
{
    private sealed class NullRuntime : IGpuRuntime
    {
        public Exception? FailWith;
        public string Arch => "null";
        public bool HasLinear => false;
        public IntPtr Alloc(long bytes) => 0x1000;
        public void Free(IntPtr ptr, long bytes) { }
        public void CopyToDevice(IntPtr dst, ReadOnlySpan<byte> src) { }
        public void CopyToHost(Span<byte> dst, IntPtr src) { }
        public void Synchronize() { }
        public void Launch(string file, string kernel, Dim3 grid, Dim3 block, int sharedBytes, KernelArgs args)
        {
            if (FailWith is not null) throw FailWith;
        }
        public void LinearF16(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y, int rows, int inF, int outF) { }
        public void Dispose() { }
    }

    private static void Burst(Engine.Backends.Cuda.CudaKernels k, int times)
    {
        for (int i = 0; i < times; i++)
        {
            k.Conv2d(0x1000, 0x2000, 0x3000, 0, 0x4000, 1, 64, 64, 320, 320, 64, 64, 3, 3, 1, 1, 1, 2880);
            k.Attention(0x1000, 0x2000, 0x3000, 0x4000, 1, 4096, 77, 5, 64, 320, 640, 640, false);
            k.GnPartialStats(0x1000, 0x2000, 1, 4096, 320, 32, 256, 16);
            k.GnApply(0x1000, 0x2000, 0x3000, 0x3100, 0x4000, 4096 * 320, 4096 * 320, 320, 32, 1e-6f, true);
            k.Axpby(0x1000, 0x2000, 0x3000, 16384, 1f, -1f);
            k.Slice(0x1000, 0x2000, 4096, 960, 320, 320);
        }
    }

    [Fact]
    public void Launches_allocate_no_managed_memory()
    {
        var k = new Engine.Backends.Cuda.CudaKernels(new NullRuntime());
        Burst(k, 50);   // JIT and tiering settle first
        long before = GC.GetAllocatedBytesForCurrentThread();
        Burst(k, 500);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"3000 launches allocated {allocated} bytes on the managed heap");
    }

    [Fact]
    public void A_failed_launch_still_names_the_kernel_and_its_shapes()
    {
        var rt = new NullRuntime { FailWith = new InvalidOperationException("CUDA_ERROR_LAUNCH_FAILED") };
        var k = new Engine.Backends.Cuda.CudaKernels(rt);
        var e = Assert.Throws<PisaException>(() => k.Conv2d(0x1000, 0x2000, 0x3000, 0, 0x4000, 1, 64, 48, 320, 640, 32, 24, 3, 3, 2, 0, 0, 2880));
        Assert.Contains("conv2d_igemm_f16", e.Message);
        Assert.Contains("x [1,64,48,320] w [640,320,3,3] stride 2 -> [1,32,24,640]", e.Message);
        Assert.Contains("CUDA_ERROR_LAUNCH_FAILED", e.Message);
        var a = Assert.Throws<PisaException>(() => k.Attention(0x1000, 0x2000, 0x3000, 0x4000, 2, 4096, 77, 5, 64, 960, 640, 640, true));
        Assert.Contains("Lq=4096 Lk=77 H=5 D=64 ld q/k/v 960/640/640", a.Message);
    }
}
