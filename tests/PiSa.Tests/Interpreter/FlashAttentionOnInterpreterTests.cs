using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// kernels/attention_flash.cu (the default attention for head dims 8..64) on the PTX interpreter behind the real
/// CudaOps, against the float32 CPU reference: every attention case of OpsSelfTest (distinct random q, k, v, q
/// peaked; Lq != Lk, tails, causal, 1 to 8 heads, every KC entry, fused-QKV and KV windows), and proofs that the
/// comparison fails when the kernel is broken in the ways a flash kernel goes wrong: V fragments loaded without
/// .trans, the tail keys left unmasked, the running output not rescaled when the row maximum grows.
/// </summary>
public sealed class FlashAttentionOnInterpreterTests(ITestOutputHelper output)
{
    private static bool IsAttention(string op) => op is "Attention" or "AttentionWindows";

    private (IReadOnlyList<OpCheck> Results, PtxGpuRuntime Rt) Run(Func<string, string> sources)
    {
        using var cpu = new CpuOps();
        var rt = new PtxGpuRuntime(sourceOf: sources);
        using var ops = new CudaOps(rt, ownsRuntime: false);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var results = OpsSelfTest.Run(cpu, ops, includeLarge: false, only: IsAttention);
        output.WriteLine(OpsSelfTest.Format(results));
        output.WriteLine($"{rt.Launches} launches, {rt.TotalInstructions:N0} thread-instructions, {sw.Elapsed.TotalSeconds:F1} s");
        Assert.NotEmpty(results);
        return (results, rt);
    }

    private static Func<string, string> Mutate(string from, string to) => f =>
    {
        string src = KernelSources.Get(f);
        if (f != "attention_flash.cu") return src;
        Assert.True(src.Contains(from, StringComparison.Ordinal), $"attention_flash.cu no longer contains the text this proof mutates: {from}");
        return src.Replace(from, to, StringComparison.Ordinal);
    };

    [InterpreterFact]
    public void Every_attention_case_matches_the_cpu_reference_and_runs_every_flash_entry()
    {
        var (results, rt) = Run(KernelSources.Get);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        foreach (var k in new[] { "attention_flash_f16_k1", "attention_flash_f16_k2", "attention_flash_f16_k3", "attention_flash_f16_k4",
                                  "attention_mma_f16", "attention_f16" })
            Assert.True(rt.Tallies.ContainsKey(k), $"{k} never ran: the case list lost its shape class");
        Assert.True(rt.Tallies["attention_flash_f16_k4"].MmaCount > 0);
    }

    [InterpreterFact]
    public void V_fragments_without_ldmatrix_trans_fail_the_comparison()
    {
        // Without .trans each lane gets V[key quad][dims 2*qlane..] instead of V[keys 2*qlane..][dim quad]: in bounds,
        // numerically wrong.
        var (results, _) = Run(Mutate("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", "ldmatrix.sync.aligned.m8n8.x4.shared.b16"));
        Assert.Contains(results, r => !r.Passed && r.Error is null);
    }

    [InterpreterFact]
    public void Unmasked_tail_keys_fail_the_comparison()
    {
        // Keys past Lk are zero-filled: unmasked they score 0 and take softmax weight (V there is 0, so only l grows).
        var (results, _) = Run(Mutate("if (j >= Lk || (causal && j > i)) x = FA_NEG_INF;", "if (causal && j > i) x = FA_NEG_INF;"));
        Assert.Contains(results, r => !r.Passed && r.Error is null);
    }

    [InterpreterFact]
    public void A_skipped_rescale_of_the_output_fails_the_comparison()
    {
        var (results, _) = Run(Mutate("o[d][0] *= c0; o[d][1] *= c0; o[d][2] *= c1; o[d][3] *= c1;", ""));
        Assert.Contains(results, r => !r.Passed && r.Error is null);
    }
}
