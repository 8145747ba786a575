using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Bench.Kernels;

/// <summary>
/// 2-D convolution (NHWC fp16, implicit GEMM on mma.sync) through CudaOps.Conv2d, each version a forced
/// <see cref="ConvPlan"/> of the shipped dispatch (CudaOps.ConvPlanner), so every version runs the real host code:
///   v1-reference   conv.cu conv2d_igemm_f16: 64x64x32, 4 warps, plain loads, no pipelining, divisions in the gather;
///   v2-64x64       conv_pipe.cu, 4 warps of 32x32, 4-stage cp.async pipeline, ldmatrix, staged 16-byte epilogue;
///   v2-128x64      conv_pipe.cu, 4 warps of 64x32, 4 stages;
///   v2-128x128     conv_pipe.cu, 8 warps of 64x32, 3 stages;
///   v3-auto        LaunchMath.ChooseConvPlan: the tile per shape and split-K (fp32 partials + a fixed-order reduce)
///                  where 64x64 tiles leave SMs idle (the UNet's 8x8 and 16x16 latents);
///   v4-wgmma-*     conv_pipe.cu compiled with PISA_WGMMA: each tile's warpgroups (one per 64 rows) on
///                  wgmma.mma_async m64nBNk16 from shared memory (core-matrix layout, no ldmatrix), 5 stages;
///   v5-auto-wgmma  v3's tile and split on its wgmma twin, as the heuristic plans on sm_90.
///                  v4/v5 run on sm_90 and the interpreter only (skipped on other GPUs).
/// Cases: interpreter-sized ones for each gather path (C = 64 16-byte, C = 3 scalar, tails in M and O, residual), and
/// the SD 2.1 shapes at 512x512 output (UNet 64x64 to 8x8 latents, VAE decoder 128 to 512 px).
/// </summary>
public sealed class ConvFamily : IKernelFamily
{
    public static ConvFamily Instance { get; } = new();

    public string Name => "conv";
    public string Summary => "conv2d NHWC fp16, implicit GEMM on tensor cores, fp32 accumulation";
    /// <summary>SPEC section 5's fp16 compute tolerance.</summary>
    public double Tolerance => OpsSelfTest.ComputeTolerance;

    public IReadOnlyList<IKernelVersion> Versions { get; } =
    [
        new Forced("v1-reference", "conv.cu conv2d_igemm_f16 (64x64x32, no cp.async/ldmatrix/pipelining)", new ConvPlan(ConvTile.Reference)),
        new Forced("v2-64x64", "conv_pipe.cu 64x64, 4 warps 32x32, 4-stage cp.async, ldmatrix", new ConvPlan(ConvTile.T64x64)),
        new Forced("v2-128x64", "conv_pipe.cu 128x64, 4 warps 64x32, 4 stages", new ConvPlan(ConvTile.T128x64)),
        new Forced("v2-128x128", "conv_pipe.cu 128x128, 8 warps 64x32, 3 stages", new ConvPlan(ConvTile.T128x128)),
        new Forced("v3-auto", "LaunchMath.ChooseConvPlan: tile per shape, split-K for small M", null),
        new Forced("v4-wgmma-64x64", "conv_pipe.cu+wgmma 64x64, 1 warpgroup of wgmma m64n64k16 from smem, 5 stages (sm_90)",
                   new ConvPlan(ConvTile.T64x64Wgmma)),
        new Forced("v4-wgmma-128x64", "conv_pipe.cu+wgmma 128x64, 2 warpgroups of m64n64k16, 5 stages (sm_90)", new ConvPlan(ConvTile.T128x64Wgmma)),
        new Forced("v4-wgmma-128x128", "conv_pipe.cu+wgmma 128x128, 2 warpgroups of m64n128k16, 5 stages (sm_90)", new ConvPlan(ConvTile.T128x128Wgmma)),
        new Hopper("v5-auto-wgmma", "LaunchMath.ChooseConvPlan as on sm_90: v3's tile and split on its wgmma twin"),
    ];

    public IReadOnlyList<KernelCase> Cases { get; } =
    [
        new Case([1, 16, 16, 64], 64, 3, 1, bias: true, residual: false, small: true, seed: 1),   // RESULTS.md's reference-kernel shape
        new Case([1, 9, 15, 64], 136, 3, 1, bias: true, residual: true, small: true, seed: 2),    // M and O tails past 128
        new Case([1, 9, 11, 3], 70, 3, 1, bias: true, residual: false, small: true, seed: 3),     // scalar gather (C = 3)
        new Case([1, 64, 64, 320], 320, 3, 1, bias: true, residual: true, small: false, seed: 4), // UNet 64x64
        new Case([1, 32, 32, 640], 640, 3, 1, bias: true, residual: false, small: false, seed: 5),
        new Case([1, 16, 16, 1280], 1280, 3, 1, bias: true, residual: false, small: false, seed: 6),
        new Case([1, 8, 8, 1280], 1280, 3, 1, bias: true, residual: true, small: false, seed: 7),  // split-K
        new Case([1, 16, 16, 1280], 1280, 3, 2, bias: true, residual: false, small: false, seed: 8),// downsample to 8x8
        new Case([1, 128, 128, 512], 512, 3, 1, bias: true, residual: false, small: false, seed: 9),// VAE decoder
        new Case([1, 512, 512, 128], 128, 3, 1, bias: true, residual: false, small: false, seed: 10),
        new Case([1, 64, 64, 4], 320, 3, 1, bias: true, residual: false, small: false, seed: 11),  // UNet conv_in (scalar gather)
    ];

    /// <summary>x [N, H, W, C], weight [O, C, k, k] scaled by 1/sqrt(fan-in), optional bias and residual; padding k/2.</summary>
    public sealed class Case : KernelCase
    {
        private readonly int[] _x;
        private readonly int _seed;
        public int O { get; }
        public int KSize { get; }
        public int Stride { get; }
        public bool Residual { get; }
        public HostTensor Weight { get; }
        public HostTensor? Bias { get; }
        public Pad2d Pad => Pad2d.Same(KSize / 2);

        public Case(int[] x, int o, int k, int stride, bool bias, bool residual, bool small, int seed)
        {
            _x = x; O = o; KSize = k; Stride = stride; Residual = residual; Small = small; _seed = seed;
            var r = new Random(seed * 7919);
            Weight = Fill(new HostTensor(o, x[3], k, k), r, 1f / MathF.Sqrt(x[3] * k * k));
            Bias = bias ? Fill(new HostTensor(o), r, 1f) : null;
        }

        private int OH => (_x[1] + 2 * (KSize / 2) - KSize) / Stride + 1;
        private int OW => (_x[2] + 2 * (KSize / 2) - KSize) / Stride + 1;

        private static HostTensor Fill(HostTensor t, Random r, float scale)
        {
            for (int i = 0; i < t.Data.Length; i++)
            {
                float u = (float)(r.NextDouble() * 2 - 1);
                t.Data[i] = scale * (u + (u >= 0 ? 0.05f : -0.05f));   // never zero
            }
            return t;
        }

        public override string Name => $"[{string.Join(",", _x)}] {KSize}x{KSize}{(Stride > 1 ? $" s{Stride}" : "")} ->{O}{(Residual ? " +res" : "")}";
        public override bool Small { get; }
        private long M => (long)_x[0] * OH * OW;
        public override double Flops => 2.0 * M * O * KSize * KSize * _x[3];
        public override double Bytes => 2.0 * (ShapeUtil.Product(_x) + (double)O * KSize * KSize * _x[3] + M * O * (Residual ? 2 : 1));
        public override HostTensor[] Inputs()
        {
            var r = new Random(_seed);
            var x = Fill(new HostTensor(_x), r, 1f);
            return Residual ? [x, Fill(new HostTensor(_x[0], OH, OW, O), r, 1f)] : [x];
        }
        public override HostTensor Reference(IOps cpu, DeviceTensor[] inputs) => cpu.Download(Apply(cpu, inputs));
        public DeviceTensor Apply(IOps ops, DeviceTensor[] inputs) =>
            ops.Conv2d(inputs[0], Weight, Bias, Stride, Pad, Residual ? inputs[1] : null);
    }

    /// <summary>The shipped CudaOps.Conv2d under a given planner (null: the heuristic as this backend plans it);
    /// versions that need wgmma are skipped where it cannot run.</summary>
    private class Planned(string name, string summary, Func<long, int, int, ConvPlan>? planner, bool wgmma) : IKernelVersion
    {
        public string Name => name;
        public string Summary => summary;
        public string? Unavailable(CudaOps ops) =>
            wgmma && !ops.Runtime.WgmmaAvailable ? "needs wgmma: an sm_90 GPU and NVRTC 12 or newer" : null;
        public DeviceTensor Run(CudaOps ops, KernelCase c, DeviceTensor[] inputs)
        {
            var saved = ops.ConvPlanner;
            ops.ConvPlanner = planner;
            try { return ((Case)c).Apply(ops, inputs); }
            finally { ops.ConvPlanner = saved; }
        }
    }

    /// <summary>One plan forced (null: the heuristic).</summary>
    private sealed class Forced(string name, string summary, ConvPlan? plan)
        : Planned(name, summary, plan is { } p ? (_, _, _) => p : null, plan is { } q && LaunchMath.IsWgmma(q.Tile));

    /// <summary>The heuristic as on sm_90 (each plan on its wgmma twin), wherever wgmma can run.</summary>
    private sealed class Hopper(string name, string summary)
        : Planned(name, summary, (m, o, kp) => LaunchMath.ChooseConvPlan(m, o, kp, wgmma: true), wgmma: true);
}
