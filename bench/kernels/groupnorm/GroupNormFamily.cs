using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Bench.Kernels;

/// <summary>
/// GroupNorm (+ optional SiLU) over NHWC fp16 activations (kernels/norm.cu). Versions:
///   v1-three-launch  gn_partial_stats, gn_finalize_stats, gn_apply: the path before issue 9 (its kernels stay in
///                    norm.cu for the tiled VAE's stats-only and apply-with-given-stats ops);
///   v2-fused         CudaOps.GroupNorm: gn_fused_f16 (one launch) for groups up to LaunchMath.GroupNormFusedMaxElements,
///                    gn_partial_stats + gn_apply_partials (finalise fused into the apply's prologue) above.
/// Cases: the interpreter-sized shape classes (one launch, two launches with uneven chunks) and the SD 2.1 shapes at
/// 512x512 output (UNet 64x64 and 32x32 levels, the VAE decoder's 128 to 512 levels).
/// </summary>
public sealed class GroupNormFamily : IKernelFamily
{
    public static GroupNormFamily Instance { get; } = new();

    public string Name => "groupnorm";
    public string Summary => "GroupNorm + SiLU, fp16 NHWC, fp32 statistics";
    /// <summary>SPEC section 5's fp16 compute tolerance (OpsSelfTest.ComputeTolerance).</summary>
    public double Tolerance => OpsSelfTest.ComputeTolerance;

    public IReadOnlyList<IKernelVersion> Versions { get; } = [new ThreeLaunch(), new Fused()];

    public IReadOnlyList<KernelCase> Cases { get; } =
    [
        new Case([2, 9, 11, 24], 8, true, small: true, seed: 1),
        new Case([1, 50, 47, 32], 4, true, small: true, seed: 2),
        new Case([1, 65, 32, 32], 1, false, small: true, seed: 3),   // 66 560 per group: the two-launch path
        new Case([1, 64, 64, 320], 32, true, small: false, seed: 4),  // UNet down 64x64
        new Case([1, 64, 64, 960], 32, true, small: false, seed: 5),  // UNet up 64x64 input (122 880 per group)
        new Case([1, 32, 32, 1920], 32, true, small: false, seed: 6), // UNet up 32x32 input
        new Case([1, 16, 16, 1280], 32, false, small: false, seed: 7),// UNet transformer norm at 16x16
        new Case([1, 128, 128, 512], 32, true, small: false, seed: 8),// VAE decoder 128x128
        new Case([1, 512, 512, 128], 32, true, small: false, seed: 9),// VAE decoder 512x512
    ];

    /// <summary>x [N, H, W, C] with a mean away from zero, gamma near 1, beta random; C split into `groups`.</summary>
    public sealed class Case : KernelCase
    {
        private readonly int[] _shape;
        private readonly int _seed;
        public int Groups { get; }
        public bool Silu { get; }
        public HostTensor Gamma { get; }
        public HostTensor Beta { get; }
        public const float Eps = 1e-6f;

        public Case(int[] shape, int groups, bool silu, bool small, int seed)
        {
            _shape = shape; Groups = groups; Silu = silu; Small = small; _seed = seed;
            int c = shape[^1];
            var r = new Random(seed * 7919);
            Gamma = Fill(new HostTensor(c), r, 0.5f, 1f);
            Beta = Fill(new HostTensor(c), r, 1f, 0f);
        }

        private static HostTensor Fill(HostTensor t, Random r, float scale, float shift)
        {
            for (int i = 0; i < t.Data.Length; i++) t.Data[i] = shift + scale * (float)(r.NextDouble() * 2 - 1);
            return t;
        }

        public override string Name => $"[{string.Join(",", _shape)}] g{Groups}{(Silu ? " silu" : "")}";
        public override bool Small { get; }
        public override double Bytes => 2.0 * 2 * ShapeUtil.Product(_shape);   // read x once, write y once (fp16)
        public override HostTensor[] Inputs() => [Fill(new HostTensor(_shape), new Random(_seed), 2f, 0.5f)];
        public override HostTensor Reference(IOps cpu, DeviceTensor[] inputs) => cpu.Download(Apply(cpu, inputs[0]));
        public DeviceTensor Apply(IOps ops, DeviceTensor x) => ops.GroupNorm(x, Gamma, Beta, Groups, Eps, Silu);
    }

    private sealed class ThreeLaunch : IKernelVersion
    {
        public string Name => "v1-three-launch";
        public string Summary => "gn_partial_stats + gn_finalize_stats + gn_apply (flat grid-stride apply)";
        public DeviceTensor Run(CudaOps ops, KernelCase c, DeviceTensor[] inputs)
        {
            var k = (Case)c;
            return ops.GroupNormThreeLaunches(inputs[0], k.Gamma, k.Beta, k.Groups, Case.Eps, k.Silu);
        }
    }

    private sealed class Fused : IKernelVersion
    {
        public string Name => "v2-fused";
        public string Summary => "gn_fused_f16 (one launch) up to 64K elements per group, else gn_partial_stats + gn_apply_partials";
        public DeviceTensor Run(CudaOps ops, KernelCase c, DeviceTensor[] inputs) => ((Case)c).Apply(ops, inputs[0]);
    }
}
