using PiSa.Cuda;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// A test that runs the CUDA backend on the PTX interpreter, which needs NVRTC to compile the kernels. Skipped, with
/// the reason, only on a developer machine without NVRTC; under CI=true (where .ci/fetch-nvrtc.sh provides it) it
/// always runs, so a missing compiler fails instead of hiding every interpreter test.
/// </summary>
public sealed class InterpreterFactAttribute : FactAttribute
{
    public InterpreterFactAttribute()
    {
        if (!KernelCompiler.Available && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "NVRTC unavailable: " + KernelCompiler.UnavailableReason + " (run: source .ci/fetch-nvrtc.sh)";
    }
}

/// <summary>The theory form of <see cref="InterpreterFactAttribute"/>.</summary>
public sealed class InterpreterTheoryAttribute : TheoryAttribute
{
    public InterpreterTheoryAttribute()
    {
        if (!KernelCompiler.Available && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "NVRTC unavailable: " + KernelCompiler.UnavailableReason + " (run: source .ci/fetch-nvrtc.sh)";
    }
}
