using System.Runtime.InteropServices;

namespace PiSa.Cuda.Native;

/// <summary>
/// CUDA driver API (libcuda.so.1). Symbol names are the ones the driver exports: where cuda.h maps a
/// name to a versioned symbol (<c>#define cuMemAlloc cuMemAlloc_v2</c>) the versioned one is bound and
/// the C# method keeps the versioned name, so nothing silently binds an old ABI.
/// Handles (CUcontext, CUstream, CUevent, CUmodule, CUfunction, CUgraph, CUgraphExec) are <c>nint</c>;
/// CUdevice is <c>int</c>; CUdeviceptr is <c>ulong</c>.
/// </summary>
public static unsafe partial class CuDriver
{
    private const string Lib = NativeLibs.Cuda;

    // Initialisation, version, errors
    [LibraryImport(Lib)] public static partial CUresult cuInit(uint flags);
    [LibraryImport(Lib)] public static partial CUresult cuDriverGetVersion(out int driverVersion);
    [LibraryImport(Lib)] public static partial CUresult cuGetErrorName(CUresult error, out byte* pStr);
    [LibraryImport(Lib)] public static partial CUresult cuGetErrorString(CUresult error, out byte* pStr);

    // Devices
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGetCount(out int count);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGetName(byte* name, int len, int dev);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGetAttribute(out int pi, CUdevice_attribute attrib, int dev);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceTotalMem_v2(out nuint bytes, int dev);

    // Contexts (primary context only: it is what the runtime API and PyTorch share)
    [LibraryImport(Lib)] public static partial CUresult cuDevicePrimaryCtxRetain(out nint pctx, int dev);
    [LibraryImport(Lib)] public static partial CUresult cuDevicePrimaryCtxRelease_v2(int dev);
    [LibraryImport(Lib)] public static partial CUresult cuCtxSetCurrent(nint ctx);
    [LibraryImport(Lib)] public static partial CUresult cuCtxGetCurrent(out nint pctx);
    [LibraryImport(Lib)] public static partial CUresult cuCtxSynchronize();
    [LibraryImport(Lib)] public static partial CUresult cuCtxDestroy_v2(nint ctx);

    // Streams and events
    [LibraryImport(Lib)] public static partial CUresult cuStreamCreate(out nint phStream, uint flags);
    [LibraryImport(Lib)] public static partial CUresult cuStreamDestroy_v2(nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuStreamSynchronize(nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuStreamWaitEvent(nint hStream, nint hEvent, uint flags);
    [LibraryImport(Lib)] public static partial CUresult cuEventCreate(out nint phEvent, uint flags);
    [LibraryImport(Lib)] public static partial CUresult cuEventRecord(nint hEvent, nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuEventSynchronize(nint hEvent);
    [LibraryImport(Lib)] public static partial CUresult cuEventElapsedTime(out float pMilliseconds, nint hStart, nint hEnd);
    [LibraryImport(Lib)] public static partial CUresult cuEventDestroy_v2(nint hEvent);

    // Memory
    [LibraryImport(Lib)] public static partial CUresult cuMemAlloc_v2(out ulong dptr, nuint bytesize);
    [LibraryImport(Lib)] public static partial CUresult cuMemFree_v2(ulong dptr);
    [LibraryImport(Lib)] public static partial CUresult cuMemGetInfo_v2(out nuint free, out nuint total);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyHtoD_v2(ulong dstDevice, void* srcHost, nuint byteCount);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyDtoH_v2(void* dstHost, ulong srcDevice, nuint byteCount);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyDtoD_v2(ulong dstDevice, ulong srcDevice, nuint byteCount);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyHtoDAsync_v2(ulong dstDevice, void* srcHost, nuint byteCount, nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyDtoHAsync_v2(void* dstHost, ulong srcDevice, nuint byteCount, nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyDtoDAsync_v2(ulong dstDevice, ulong srcDevice, nuint byteCount, nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuMemsetD8_v2(ulong dstDevice, byte uc, nuint n);
    [LibraryImport(Lib)] public static partial CUresult cuMemsetD32_v2(ulong dstDevice, uint ui, nuint n);
    [LibraryImport(Lib)] public static partial CUresult cuMemsetD8Async(ulong dstDevice, byte uc, nuint n, nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuMemsetD32Async(ulong dstDevice, uint ui, nuint n, nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuMemAllocHost_v2(out void* pp, nuint bytesize);
    [LibraryImport(Lib)] public static partial CUresult cuMemFreeHost(void* p);

    // Modules and kernels
    [LibraryImport(Lib)] public static partial CUresult cuModuleLoadData(out nint module, void* image);
    [LibraryImport(Lib)] public static partial CUresult cuModuleLoadDataEx(out nint module, void* image, uint numOptions, CUjit_option* options, void** optionValues);
    [LibraryImport(Lib)] public static partial CUresult cuModuleUnload(nint hmod);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial CUresult cuModuleGetFunction(out nint hfunc, nint hmod, string name);
    [LibraryImport(Lib)] public static partial CUresult cuFuncGetAttribute(out int pi, CUfunction_attribute attrib, nint hfunc);
    [LibraryImport(Lib)] public static partial CUresult cuFuncSetAttribute(nint hfunc, CUfunction_attribute attrib, int value);
    [LibraryImport(Lib)]
    public static partial CUresult cuLaunchKernel(nint f,
        uint gridDimX, uint gridDimY, uint gridDimZ,
        uint blockDimX, uint blockDimY, uint blockDimZ,
        uint sharedMemBytes, nint hStream, void** kernelParams, void** extra);
    [LibraryImport(Lib)]
    public static partial CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(out int numBlocks, nint func, int blockSize, nuint dynamicSMemSize);

    // Graphs (stream capture)
    [LibraryImport(Lib)] public static partial CUresult cuStreamBeginCapture_v2(nint hStream, CUstreamCaptureMode mode);
    [LibraryImport(Lib)] public static partial CUresult cuStreamEndCapture(nint hStream, out nint phGraph);
    [LibraryImport(Lib)] public static partial CUresult cuGraphInstantiateWithFlags(out nint phGraphExec, nint hGraph, ulong flags);
    [LibraryImport(Lib)] public static partial CUresult cuGraphLaunch(nint hGraphExec, nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuGraphUpload(nint hGraphExec, nint hStream);
    [LibraryImport(Lib)] public static partial CUresult cuGraphExecDestroy(nint hGraphExec);
    [LibraryImport(Lib)] public static partial CUresult cuGraphDestroy(nint hGraph);
}
