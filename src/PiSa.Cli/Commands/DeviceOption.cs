using System.CommandLine;

namespace PiSa.Cli.Commands;

/// <summary>The shared --device option: auto (CUDA when usable, else CPU with a notice), cpu, cuda.</summary>
public static class DeviceOption
{
    public static Option<string> Create()
    {
        return Choices.Create("--device", "auto (CUDA if a usable GPU is found, else CPU), cpu or cuda", "auto", "auto", "cpu", "cuda");
    }
}
