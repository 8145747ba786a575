using System.CommandLine;

namespace PiSa.Cli.Commands;

/// <summary>The shared --device option: auto (CUDA when usable, else CPU with a notice), cpu, cuda, ptx.</summary>
public static class DeviceOption
{
    public static Option<string> Create()
    {
        return Choices.Create("--device", "auto (CUDA if a usable GPU is found, else CPU), cpu, cuda, or ptx (the CUDA kernels on the PTX interpreter: no GPU needed, slow)",
            "auto", "auto", "cpu", "cuda", "ptx");
    }
}
