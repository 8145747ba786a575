using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// The CUDA backend's real host code (CudaOps, CudaKernels, LaunchMath, WeightCache) and the PTX that NVRTC makes of
/// kernels/*.cu, run on the PTX interpreter and compared op by op with the float32 CPU backend through OpsSelfTest:
/// random non-zero inputs, outputs poisoned, every shape class the kernels special-case (see
/// OpsSelfTest.KernelShapeClasses), SPEC section 5's fp16 tolerances. Every launch also runs the interpreter's
/// checks (bounds, uninitialised reads, shared-memory races, barrier divergence), so a passing op is also a clean one.
/// </summary>
public sealed class CudaOpsOnInterpreterTests(ITestOutputHelper output)
{
    private IReadOnlyList<OpCheck> Run(PtxGpuRuntime rt, Func<string, bool>? only = null)
    {
        using var cpu = new CpuOps();
        using var ops = new CudaOps(rt) { UseGraphs = true };   // the Replayable case then records and replays a graph
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var results = OpsSelfTest.Run(cpu, ops, includeLarge: false, only: only);
        output.WriteLine(OpsSelfTest.Format(results));
        output.WriteLine($"{rt.Launches} launches, {rt.TotalInstructions:N0} thread-instructions, {sw.Elapsed.TotalSeconds:F1} s");
        return results;
    }

    [InterpreterFact]
    public void Every_op_matches_the_cpu_reference()
    {
        var results = Run(new PtxGpuRuntime());
        Assert.NotEmpty(results);
        // Every IOps family is exercised (a case list that silently lost an op would still pass otherwise).
        foreach (var op in new[] { "Conv2d", "Linear", "GroupNorm", "GroupNormStats", "GroupNormApply", "LayerNorm", "Attention",
                                   "Silu", "Gelu", "Geglu", "Axpby", "ScaleShift", "Clamp", "AddChannelVector",
                                   "UpsampleNearest2x", "ConcatChannels", "SliceChannels", "CropSpatial", "Upload/Download", "Reshape" })
            Assert.Contains(results, r => r.Op == op);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
    }

    [InterpreterFact]
    public void Linear_layers_without_cublaslt_run_on_the_implicit_gemm_kernel_and_match()
    {
        var rt = new PtxGpuRuntime(hasLinear: false);
        var results = Run(rt, op => op == "Linear");
        Assert.NotEmpty(results);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        Assert.True(rt.Tallies.Keys.Any(k => k.StartsWith("conv2d_pipe_", StringComparison.Ordinal)), "the fallback did not use the conv kernel");
    }

    [InterpreterFact]
    public void Results_do_not_depend_on_the_scheduling_seed()
    {
        // Blocks and threads run in an order shuffled from the seed: a race-free kernel gives bit-identical output.
        float[] RunWith(int seed)
        {
            using var ops = new CudaOps(new PtxGpuRuntime(seed: seed));
            var rng = new Random(7);
            var q = new Engine.Tensors.HostTensor(1, 45, 80);
            for (int i = 0; i < q.Data.Length; i++) q.Data[i] = (float)(rng.NextDouble() * 2 - 1);
            using var dq = ops.Upload(q);
            using var y = ops.Attention(dq, dq, dq, 2, causal: true);
            var w = new Engine.Tensors.HostTensor(24, 80, 3, 3);
            for (int i = 0; i < w.Data.Length; i++) w.Data[i] = (float)(rng.NextDouble() - 0.5);
            using var x4 = ops.Reshape(y, 1, 5, 9, 80);
            using var c = ops.Conv2d(x4, w, null, 1, Pad2d.Same(1));
            using var g = ops.GroupNorm(c, Ones(24), Ones(24), 4, 1e-5f, silu: true);
            return ops.Download(g).Data;
        }
        Assert.Equal(RunWith(1), RunWith(987654));
    }

    private static Engine.Tensors.HostTensor Ones(int n)
    {
        var t = new Engine.Tensors.HostTensor(n);
        Array.Fill(t.Data, 1f);
        return t;
    }
}
