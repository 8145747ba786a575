using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>A kernel (CUfunction) of a loaded <see cref="CudaModule"/>, launchable on a stream.</summary>
public sealed unsafe class CudaKernel
{
    public nint Handle { get; }
    public string Name { get; }
    public CudaModule Module { get; }

    internal CudaKernel(nint handle, string name, CudaModule module)
    {
        Handle = handle;
        Name = name;
        Module = module;
    }

    public int GetAttribute(CUfunction_attribute a)
    {
        CudaException.Check(CuDriver.cuFuncGetAttribute(out int v, a, Handle), "cuFuncGetAttribute", $"{a} of {Name}");
        return v;
    }

    public int NumRegisters => GetAttribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_NUM_REGS);
    public int LocalBytesPerThread => GetAttribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES);
    public int StaticSharedBytes => GetAttribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
    public int MaxThreadsPerBlock => GetAttribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);

    /// <summary>Allows more than 48 KiB of dynamic shared memory (needed before such a launch).</summary>
    public void SetMaxDynamicSharedMemory(int bytes) =>
        CudaException.Check(CuDriver.cuFuncSetAttribute(Handle, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
            "cuFuncSetAttribute", $"{Name}: max dynamic shared memory {bytes} bytes");

    /// <summary>Resident blocks per SM for a block size and dynamic shared memory (occupancy).</summary>
    public int MaxActiveBlocksPerSm(int blockSize, int dynamicSharedBytes = 0)
    {
        CudaException.Check(CuDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor(out int n, Handle, blockSize, (nuint)dynamicSharedBytes),
            "cuOccupancyMaxActiveBlocksPerMultiprocessor", Name);
        return n;
    }

    /// <summary>Launches with parameters from <paramref name="args"/> on <paramref name="stream"/> (the legacy stream when null).</summary>
    public void Launch(Dim3 grid, Dim3 block, KernelArgs args, CudaStream? stream = null, int sharedBytes = 0) =>
        Launch(grid, block, args.Pointers, stream?.Handle ?? 0, sharedBytes);

    /// <summary>Launches with a raw <c>void**</c> parameter array.</summary>
    public void Launch(Dim3 grid, Dim3 block, void** args, nint stream, int sharedBytes = 0)
    {
        var r = CuDriver.cuLaunchKernel(Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            (uint)sharedBytes, stream, args, null);
        if (r != CUresult.CUDA_SUCCESS)
            CudaException.Check(r, "cuLaunchKernel", $"{Name} grid {grid} block {block} shared {sharedBytes} B");
    }

    public override string ToString() => $"CudaKernel({Name})";
}
