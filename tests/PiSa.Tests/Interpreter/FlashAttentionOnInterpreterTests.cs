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
/// .trans, the tail keys left unmasked, the running output not rescaled when the row maximum grows. Also the large-head
/// path (GEMM - softmax - GEMM, kernels/attention_gemm.cu), chunked over query rows, and its SIMT fallback.
/// </summary>
public sealed class FlashAttentionOnInterpreterTests(ITestOutputHelper output)
{
    private static bool IsAttention(string op) => op is "Attention" or "AttentionWindows";

    private (IReadOnlyList<OpCheck> Results, PtxGpuRuntime Rt) Run(Func<string, string> sources, bool hasLinear = true, long? scoreBudget = null)
    {
        using var cpu = new CpuOps();
        var rt = new PtxGpuRuntime(sourceOf: sources, hasLinear: hasLinear);
        using var ops = new CudaOps(rt, ownsRuntime: false);
        if (scoreBudget is long sb) ops.AttentionScoreBudgetBytes = sb;
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
    public void The_large_head_gemm_path_matches_in_chunks_of_query_rows_and_the_simt_kernel_without_cublaslt()
    {
        // 64 bytes of scores: 2 query rows per chunk at 16 padded keys, 1 at 40 (Lq 7 to 40: many chunks, a short last one).
        var (chunked, rt) = Run(KernelSources.Get, scoreBudget: 64);
        Assert.All(chunked, r => Assert.True(r.Passed, r.ToString()));
        Assert.True(rt.Tallies.ContainsKey("attn_softmax_rows_f16") && rt.Tallies.ContainsKey("attn_pack_transpose_f16"));
        Assert.True(rt.Tallies["attn_softmax_rows_f16"].Launches > 40, "the query rows were not chunked");
        var (simt, rt2) = Run(KernelSources.Get, hasLinear: false);
        Assert.All(simt, r => Assert.True(r.Passed, r.ToString()));
        Assert.False(rt2.Tallies.ContainsKey("attn_softmax_rows_f16"));
    }

    [InterpreterFact]
    public void A_softmax_that_ignores_the_key_count_fails_the_comparison()
    {
        // The padded keys score exactly 0: taking them into the softmax is wrong only where Lk % 8 != 0.
        var src = (Func<string, string>)(f =>
        {
            string s = KernelSources.Get(f);
            if (f != "attention_gemm.cu") return s;
            const string from = "const int end = causal ? min(cols, qOffset + r + 1) : cols;";
            Assert.Contains(from, s);
            return s.Replace(from, "const int end = causal ? min(ld, qOffset + r + 1) : ld;", StringComparison.Ordinal);
        });
        var (results, _) = Run(src);
        Assert.Contains(results, r => !r.Passed && r.Error is null && r.Case.Contains("D512", StringComparison.Ordinal));
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
