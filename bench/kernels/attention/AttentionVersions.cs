using System.Diagnostics;
using PiSa.Engine;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;
using PiSa.Ptx;

namespace PiSa.Bench.Kernels.Attention;

/// <summary>One attention problem: B batches, H heads of D dims, Lq queries over Lk keys (contiguous q, k, v).</summary>
public sealed record AttentionShape(int B, int Lq, int Lk, int Heads, int D, bool Causal)
{
    /// <summary>Multiply-adds of QK^T and PV counted as 2 flops, the whole Lq x Lk square even when causal (the usual
    /// convention of attention benchmarks; a causal kernel that skips the upper half shows a lower TFLOP/s).</summary>
    public double Flops => 4.0 * B * Heads * Lq * (double)Lk * D;
    public override string ToString() => $"B{B} Lq{Lq} Lk{Lk} H{Heads} D{D}{(Causal ? " causal" : "")}";
}

/// <summary>One version on one shape: relative L2 to the CPU float32 reference, and GPU time or interpreter counters.</summary>
public sealed record VersionResult(string Version, string Kernel, double RelL2, bool Passed, double? Milliseconds, double? Tflops, PtxLaunchStats? Counters);

/// <summary>
/// The versions of attention in kernels/ (oldest first), each launched through its own CudaKernels entry (the GEMM
/// path through CudaOps.Attention, which picks it for one head wider than 64), so what runs here is exactly what
/// CudaOps dispatches to.
/// </summary>
public static class AttentionVersions
{
    /// <param name="Launch">writes the output into y (kernel versions) or returns a new output tensor (the GEMM path,
    /// which is CudaOps' own dispatch).</param>
    public sealed record Version(string Name, string Summary, Func<int, int, bool> Takes, Func<int, string> Kernel,
                                 Func<CudaOps, CudaKernels, CudaTensor, CudaTensor, CudaTensor, CudaTensor, AttentionShape, CudaTensor?> Launch);

    private static CudaTensor? Go(Action<IntPtr, IntPtr, IntPtr, IntPtr, int, int, int, int, int, int, int, int, bool> f,
                                  CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor o, AttentionShape s)
    {
        int hd = s.Heads * s.D;
        f(q.Ptr, k.Ptr, v.Ptr, o.Ptr, s.B, s.Lq, s.Lk, s.Heads, s.D, hd, hd, hd, s.Causal);
        return null;
    }

    public static readonly IReadOnlyList<Version> All =
    [
        new("simt", "attention_f16: one warp per query row, fp32 dot products per lane, K/V tiles of 32 keys in smem",
            (d, _) => d <= LaunchMath.MaxHeadDim, _ => "attention_f16", (_, kk, q, k, v, o, s) => Go(kk.AttentionSimt, q, k, v, o, s)),
        new("mma", "attention_mma_f16: mma.sync m16n8k16, 4 warps x 16 rows, 64-key tiles by plain 16/32-bit loads, no pipelining",
            (d, _) => d % 8 == 0 && d <= 64, _ => "attention_mma_f16", (_, kk, q, k, v, o, s) => Go(kk.AttentionMma, q, k, v, o, s)),
        new("flash", "attention_flash_f16_k*: FA2 structure, cp.async double-buffered 64-key K/V tiles, ldmatrix(.trans), padded smem rows, 16-byte stores",
            (d, _) => d % 8 == 0 && d <= 64, LaunchMath.AttentionFlashKernel, (_, kk, q, k, v, o, s) => Go(kk.AttentionFlash, q, k, v, o, s)),
        new("gemm", "CudaOps' GEMM - softmax - GEMM for one large head: cuBLASLt GEMMs (CPU on the interpreter) around attn_softmax_rows_f16",
            (d, heads) => LaunchMath.AttentionByGemm(d, heads, hasLinear: true), _ => "attn_softmax_rows_f16",
            (ops, _, q, k, v, _, s) => (CudaTensor)ops.Attention(q, k, v, s.Heads, s.Causal)),
    ];

    /// <summary>Random q, k, v of one shape, uniform in [-1, 1] from <paramref name="seed"/>: a peaked softmax (q scaled
    /// up 3x) and distinct q, k, v, so a kernel swapping K and V or ignoring q cannot pass.</summary>
    public static HostTensor[] Inputs(AttentionShape s, int seed)
    {
        var rng = new Random(seed);
        HostTensor Rand(float scale, int l)
        {
            var t = new HostTensor(s.B, l, s.Heads * s.D);
            for (int i = 0; i < t.Data.Length; i++) t.Data[i] = scale * (float)(rng.NextDouble() * 2 - 1);
            return t;
        }
        return [Rand(3f, s.Lq), Rand(1f, s.Lk), Rand(1f, s.Lk)];
    }

    /// <summary>Runs every version that takes <paramref name="s"/>.D on <paramref name="ops"/>' runtime: checked once
    /// against the CPU reference; on a GPU then timed over <paramref name="iters"/> launches after a warm-up; on the
    /// interpreter the counters of its one launch (give each call a fresh PtxGpuRuntime: the tallies are per kernel name).</summary>
    public static IReadOnlyList<VersionResult> Run(CudaOps ops, AttentionShape s, int iters = 20, int seed = 1, double tolerance = 1e-2)
    {
        int hd = s.Heads * s.D;
        var inputs = Inputs(s, seed);
        HostTensor hq = inputs[0], hk = inputs[1], hv = inputs[2];
        HostTensor want;
        using (var cpu = new CpuOps())
        using (var cq = cpu.Upload(hq)) using (var ck = cpu.Upload(hk)) using (var cv = cpu.Upload(hv))
        using (var cy = cpu.Attention(cq, ck, cv, s.Heads, s.Causal))
            want = cpu.Download(cy);

        var kernels = new CudaKernels(ops.Runtime);
        var nan = new HostTensor(s.B, s.Lq, hd);
        Array.Fill(nan.Data, float.NaN);
        var results = new List<VersionResult>();
        using var dq = (CudaTensor)ops.Upload(hq);
        using var dk = (CudaTensor)ops.Upload(hk);
        using var dv = (CudaTensor)ops.Upload(hv);
        foreach (var ver in All)
        {
            if (!ver.Takes(s.D, s.Heads) || (ver.Name == "gemm" && !ops.Runtime.HasLinear)) continue;
            using var y = (CudaTensor)ops.Upload(nan);   // an output the kernel forgets to write stays NaN
            double e;
            using (var own = ver.Launch(ops, kernels, dq, dk, dv, y, s)) e = RelL2(ops.Download(own ?? y).Data, want.Data);
            double? ms = null, tf = null;
            PtxLaunchStats? counters = null;
            if (ops.Runtime is PtxGpuRuntime p) counters = p.Tallies[ver.Kernel(s.D)];
            else
            {
                ver.Launch(ops, kernels, dq, dk, dv, y, s)?.Dispose();   // warm-up (compiled and loaded already)
                ops.Synchronize();
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < iters; i++) ver.Launch(ops, kernels, dq, dk, dv, y, s)?.Dispose();
                ops.Synchronize();
                ms = sw.Elapsed.TotalMilliseconds / iters;
                tf = s.Flops / (ms.Value * 1e-3) / 1e12;
            }
            results.Add(new VersionResult(ver.Name, ver.Kernel(s.D), e, e <= tolerance, ms, tf, counters));
        }
        return results;
    }

    private static double RelL2(float[] got, float[] want)
    {
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++) { double d = (double)got[i] - want[i]; num += d * d; den += (double)want[i] * want[i]; }
        return double.IsNaN(num) ? double.NaN : Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 1e-30);
    }

    /// <summary>One line per version: the check, then time and TFLOP/s (GPU) or counters (interpreter).</summary>
    public static string Format(AttentionShape s, IReadOnlyList<VersionResult> rs)
    {
        var lines = new List<string> { $"attention {s}" };
        foreach (var r in rs)
        {
            string head = $"  {r.Version,-6} {r.Kernel,-24} {(r.Passed ? "PASS" : "FAIL")} relL2 {r.RelL2:E2}";
            if (r.Milliseconds is double ms) lines.Add($"{head}  {ms * 1e3,10:F1} us  {r.Tflops,7:F1} TFLOP/s");
            else if (r.Counters is { } c)
                lines.Add($"{head}  instr {c.TotalInstructions,14:N0}  mma {c.MmaCount,10:N0}  global {c.SectorsPerRequest,5:F2} sectors/req ({c.GlobalRequests:N0} req)  " +
                          $"shared {c.SharedWavefronts,10:N0} wavefronts / {c.SharedRequests:N0} req ({(double)c.SharedWavefronts / Math.Max(1, c.SharedRequests):F2}/req)  " +
                          $"{c.TotalInstructions / s.Flops * 1e3:F2} instr/kflop");
        }
        return string.Join(Environment.NewLine, lines);
    }
}
