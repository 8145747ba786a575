using PiSa.Cuda;
using PiSa.Cuda.Native;

namespace PiSa.Tests.Cuda;

public class CudaExceptionTests
{
    [Fact]
    public void Check_NamesTheCall_TheError_AndTheDetails_OnOneLine()
    {
        var e = Assert.Throws<CudaException>(() =>
            CudaException.Check(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc", "1073741824 bytes"));
        Assert.Equal("cuMemAlloc", e.Operation);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", e.ErrorName);
        Assert.Equal(CUresult.CUDA_ERROR_OUT_OF_MEMORY, e.Result);
        Assert.StartsWith("cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (", e.Message);
        Assert.EndsWith("[1073741824 bytes]", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Success_DoesNotThrow()
    {
        CudaException.Check(CUresult.CUDA_SUCCESS, "cuInit");
        CudaException.Check(cublasStatus_t.CUBLAS_STATUS_SUCCESS, "cublasLtMatmul");
        CudaException.Check(nvrtcResult.NVRTC_SUCCESS, "nvrtcCompileProgram");
    }

    [Fact]
    public void CublasAndUnknownCodes_AreNamed()
    {
        var e = Assert.Throws<CudaException>(() => CudaException.Check(cublasStatus_t.CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmul", "GEMM M=1"));
        Assert.Equal("CUBLAS_STATUS_NOT_SUPPORTED", e.ErrorName);
        Assert.Contains("GEMM M=1", e.Message);
        var u = Assert.Throws<CudaException>(() => CudaException.Check((CUresult)12345, "cuX"));
        Assert.False(string.IsNullOrWhiteSpace(u.ErrorName));
    }
}
