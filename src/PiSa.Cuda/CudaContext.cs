using System.Text;
using PiSa.Cuda.Native;

namespace PiSa.Cuda;

/// <summary>
/// The device's primary context (shared with any other CUDA user in the process), made current on the
/// creating thread, with the device properties the engine and `pisa doctor` need.
/// Call <see cref="MakeCurrent"/> on any other thread before issuing CUDA calls there.
/// </summary>
public sealed unsafe class CudaContext : IDisposable
{
    public int Device { get; }
    public nint Handle { get; private set; }
    public string Name { get; }
    public int ComputeMajor { get; }
    public int ComputeMinor { get; }
    public int SmCount { get; }
    public long TotalMemory { get; }
    /// <summary>Driver version as the driver encodes it (1000 * major + 10 * minor, e.g. 13000).</summary>
    public int DriverVersion { get; }
    public int MaxSharedMemoryPerBlockOptin { get; }
    public int L2CacheBytes { get; }

    /// <summary>Compute capability as an int, e.g. 80, 89, 90.</summary>
    public int ComputeCapability => ComputeMajor * 10 + ComputeMinor;

    /// <summary>The NVRTC target for a cubin of this device, e.g. "sm_90".</summary>
    public string SmArch => $"sm_{ComputeCapability}";

    /// <summary>"13.0" from 13000.</summary>
    public string DriverVersionText => FormatVersion(DriverVersion);

    private CudaContext(int device, nint handle)
    {
        Device = device;
        Handle = handle;
        Name = DeviceName(device);
        ComputeMajor = Attr(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
        ComputeMinor = Attr(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
        SmCount = Attr(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
        MaxSharedMemoryPerBlockOptin = Attr(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device);
        L2CacheBytes = Attr(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, device);
        CudaException.Check(CuDriver.cuDeviceTotalMem_v2(out nuint total, device), "cuDeviceTotalMem", $"device {device}");
        TotalMemory = (long)total;
        CudaException.Check(CuDriver.cuDriverGetVersion(out int v), "cuDriverGetVersion");
        DriverVersion = v;
    }

    /// <summary>
    /// Initialises the driver, retains device <paramref name="ordinal"/>'s primary context and makes it
    /// current. Throws <see cref="CudaException"/> (or DllNotFoundException without a driver): call
    /// <see cref="CudaAvailability.Probe"/> first for a friendly check.
    /// </summary>
    public static CudaContext Create(int ordinal = 0)
    {
        CudaException.Check(CuDriver.cuInit(0), "cuInit");
        CudaException.Check(CuDriver.cuDeviceGet(out int dev, ordinal), "cuDeviceGet", $"ordinal {ordinal}");
        CudaException.Check(CuDriver.cuDevicePrimaryCtxRetain(out nint ctx, dev), "cuDevicePrimaryCtxRetain", $"device {dev}");
        var r = CuDriver.cuCtxSetCurrent(ctx);
        if (r != CUresult.CUDA_SUCCESS)
        {
            CuDriver.cuDevicePrimaryCtxRelease_v2(dev);
            CudaException.Check(r, "cuCtxSetCurrent");
        }
        return new CudaContext(dev, ctx);
    }

    /// <summary>Makes this context current on the calling thread.</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(Handle == 0, this);
        CudaException.Check(CuDriver.cuCtxSetCurrent(Handle), "cuCtxSetCurrent");
    }

    /// <summary>Waits for all work in the context.</summary>
    public void Synchronize() => CudaException.Check(CuDriver.cuCtxSynchronize(), "cuCtxSynchronize");

    /// <summary>Free and total device memory in bytes (as the driver sees it, other processes included).</summary>
    public (long Free, long Total) MemoryInfo()
    {
        CudaException.Check(CuDriver.cuMemGetInfo_v2(out nuint free, out nuint total), "cuMemGetInfo");
        return ((long)free, (long)total);
    }

    public static string FormatVersion(int v) => $"{v / 1000}.{v % 1000 / 10}";

    public override string ToString() =>
        $"{Name} (sm_{ComputeCapability}, {SmCount} SMs, {TotalMemory / (1024.0 * 1024 * 1024):F1} GiB, driver {DriverVersionText})";

    public void Dispose()
    {
        if (Handle == 0)
            return;
        // Not cuCtxDestroy: the primary context is reference-counted and may be shared.
        CuDriver.cuDevicePrimaryCtxRelease_v2(Device);
        Handle = 0;
    }

    private static int Attr(CUdevice_attribute a, int dev)
    {
        CudaException.Check(CuDriver.cuDeviceGetAttribute(out int v, a, dev), "cuDeviceGetAttribute", a.ToString());
        return v;
    }

    private static string DeviceName(int dev)
    {
        byte* buf = stackalloc byte[256];
        CudaException.Check(CuDriver.cuDeviceGetName(buf, 256, dev), "cuDeviceGetName");
        int n = 0;
        while (n < 256 && buf[n] != 0) n++;
        return Encoding.UTF8.GetString(buf, n);
    }
}
