namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// Sees every kernel launch and cuBLASLt GEMM that CudaOps issues, around the runtime call (`pisa profile`: events on
/// CUDA, the interpreter's counters on PTX). Null on CudaOps by default: the launch path then costs nothing extra.
/// </summary>
public interface ILaunchObserver
{
    void BeforeLaunch(string kernel, Dim3 grid, Dim3 block, KernelArgs args);
    void AfterLaunch(string kernel, Dim3 grid, Dim3 block, KernelArgs args);
    void BeforeLinear(int rows, int inF, int outF);
    void AfterLinear(int rows, int inF, int outF);
}
