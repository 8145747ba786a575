using System.CommandLine;
using PiSa.Cuda;
using PiSa.Engine;

namespace PiSa.Cli.Commands;

/// <summary>
/// `--gpu N`: the CUDA device to run on, numbered from 0 as `pisa doctor` lists them. Only the CUDA backend runs on
/// a GPU, so with `--device cpu` or `ptx` it is a usage error (exit 2) rather than a silent no-op; with `--device
/// auto` it means CUDA (a user who names a GPU does not want a quiet CPU fallback), and on a machine without that
/// device it fails at once (exit 1) saying which devices there are.
/// </summary>
public static class GpuOption
{
    public static Option<int?> Create() =>
        new("--gpu") { Description = "the CUDA device to run on, numbered from 0 as `pisa doctor` lists them (default 0); implies --device cuda, not with cpu or ptx" };

    /// <summary>The device and ordinal to create the backend with; mistakes throw before any model is loaded.</summary>
    public static (string Device, int Gpu) Resolve(string device, int? gpu)
    {
        if (gpu == null) return (device, 0);
        if (gpu < 0) throw new UsageException($"--gpu must be 0 or more, not {gpu}");
        if (device is "cpu" or "ptx")
            throw new UsageException($"--gpu chooses a CUDA device: not with --device {device}" + (device == "ptx" ? " (the PTX interpreter runs on the CPU)" : ""));
        var (ok, reason) = CudaAvailability.Probe();
        if (!ok) throw new PisaException($"--gpu {gpu}: no CUDA device is usable on this machine ({reason}); `pisa doctor` lists the devices");
        return ("cuda", gpu.Value);
    }
}
