using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Pipeline;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// Golden cases of the tiny model end to end on the CUDA backend run by the PTX interpreter: text encoder, VAE
/// encoder, UNet and VAE decoder as the fp16 kernels compute them, against the official code's recorded intermediates
/// and image with SPEC section 5's fp16 tolerances (GoldenCheck, the same check as `pisa selftest --device ptx`).
/// One case per path: default, the two-pass adjustable mode, latent tiling, VAE tiling (the CLI selftest in CI runs
/// every case).
/// </summary>
public sealed class GoldenOnInterpreterTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases() => new() { "a_default", "a_adj_0.5_1.2", "e_default_latenttiled", "f_default_vaetiled" };

    [InterpreterTheory]
    [MemberData(nameof(Cases))]
    public void Case_matches_the_official_outputs_on_the_interpreter(string name)
    {
        var rt = new PtxGpuRuntime();
        Check(name, rt);
    }

    /// <summary>Runs golden case <paramref name="name"/> on the CUDA backend over <paramref name="rt"/> and asserts it
    /// passes; returns the backend (disposed) for the caller's own checks of what ran.</summary>
    private CudaOps Check(string name, PtxGpuRuntime rt)
    {
        var c = GoldenCase.Get(name).Case;
        using var ops = new CudaOps(rt);
        using var model = TinyFixtureModel.Load(ops);
        using var floor = TinyFixtureModel.Load(new Fp16StorageOps(new CpuOps()));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = GoldenCheck.Run(model, c, fp16: true, floor);
        foreach (var line in r.Lines) output.WriteLine(line);
        output.WriteLine($"{rt.Launches} launches, {rt.TotalInstructions:N0} thread-instructions, " +
                         $"peak device memory {rt.PeakDeviceBytes / 1e6:F1} MB, {sw.Elapsed.TotalSeconds:F1} s");
        Assert.True(r.Passed, string.Join("; ", r.Lines));
        return ops;
    }

    /// <summary>The default case as an sm_90 GPU plans it: every pipelined conv (and conv-path linear) on its wgmma
    /// twin, end to end against the official outputs.</summary>
    [InterpreterFact]
    public void The_default_case_matches_on_the_wgmma_tiles()
    {
        var rt = new PtxGpuRuntime(wgmma: true);
        var ops = Check("a_default", rt);
        var convs = rt.Tallies.Keys.Where(k => k.StartsWith("conv2d_", StringComparison.Ordinal)).ToList();
        output.WriteLine(string.Join(", ", convs));
        Assert.Contains(convs, k => k.StartsWith("conv2d_wgmma_", StringComparison.Ordinal));
        Assert.DoesNotContain(convs, k => k.StartsWith("conv2d_pipe_", StringComparison.Ordinal));
        Assert.Null(ops.WgmmaFailure);
    }
}
