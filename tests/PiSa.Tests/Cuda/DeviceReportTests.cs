using PiSa.Cuda;

namespace PiSa.Tests.Cuda;

public class DeviceReportTests
{
    [Fact]
    public void Report_NeverThrows_AndCoversEveryComponent()
    {
        var lines = DeviceReport.Collect();
        Assert.Equal(["GPU", "NVRTC", "cuBLAS", "cuBLASLt", "NVTX", "Kernel cache"],
            lines.Select(l => l.Label).Where(l => l is not ("GPU memory" or "CUDA driver")));
        var (ok, reason) = CudaAvailability.Probe();
        var gpu = lines.Single(l => l.Label == "GPU");
        Assert.Equal(ok, gpu.Ok);
        if (!ok)
            Assert.Contains(reason, gpu.Value);
        var nvrtc = lines.Single(l => l.Label == "NVRTC");
        Assert.Equal(KernelCompiler.Available, nvrtc.Ok);
        if (KernelCompiler.Available)
            Assert.StartsWith($"{KernelCompiler.NvrtcVersion.Major}.{KernelCompiler.NvrtcVersion.Minor} (", nvrtc.Value);

        var text = DeviceReport.Build();
        Assert.Contains("NVRTC:", text);
        Assert.Contains("Kernel cache:", text);
    }

    [NvrtcFact]
    public void KernelLines_ShowOkAndFailures()
    {
        var results = new KernelCompiler(null).CompileAll([("axpy.cu", TestKernels.Axpy), ("broken.cu", TestKernels.Broken)], "sm_80");
        var lines = DeviceReport.KernelLines(results);
        Assert.True(lines[0].Ok);
        Assert.StartsWith("ok, 1 kernels, max ", lines[0].Value);
        Assert.Contains("no spills", lines[0].Value);
        Assert.False(lines[1].Ok);
        Assert.StartsWith("FAILED: ", lines[1].Value);
        var text = DeviceReport.Format(lines);
        Assert.Contains("axpy.cu:", text);
    }
}
