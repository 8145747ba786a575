using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Bench.Kernels;

/// <summary>
/// The fused compositions of IOps (issue 9 item 4) through the shipped CudaOps, with its fusions off or on:
///   v1-unfused  the compositions (Linear + geglu_f16; upsample_nearest_f16 [+ crop] + conv; concat_channels_f16 +
///               GroupNorm and conv_shortcut, the concat made once as the models do without the fold);
///   v2-fused    GEGLU in conv_pipe's epilogue (packed value/gate columns), the upsampling and the concat folded into
///               conv_pipe's _gather gather and norm.cu's _cat GroupNorm: no intermediate tensor is written.
/// Cases: interpreter-sized ones and the SD 2.1 shapes at 512x512 output (UNet 64x64 feed-forward, the up blocks'
/// upsamplers and their first resnet input).
/// </summary>
public sealed class FusionFamily : IKernelFamily
{
    public static FusionFamily Instance { get; } = new();

    public string Name => "fusions";
    public string Summary => "GEGLU epilogue, nearest 2x upsampling and skip concat folded into the next kernel";
    public double Tolerance => OpsSelfTest.ComputeTolerance;

    public IReadOnlyList<IKernelVersion> Versions { get; } =
    [
        new WithFusions("v1-unfused", "the compositions: the intermediate tensor written and read back", CudaFusions.None),
        new WithFusions("v2-fused", "folded into conv_pipe's epilogue / gather and norm.cu's reads", new CudaFusions()),
    ];

    public IReadOnlyList<KernelCase> Cases { get; } =
    [
        Geglu([1, 130, 96], 72, small: true, seed: 1),
        Upsampled([1, 6, 7, 32], 12, 13, 72, small: true, seed: 2),
        SkipInput([1, 9, 15, 32], 32, 64, groups: 8, small: true, seed: 3),
        Geglu([1, 4096, 320], 1280, small: false, seed: 4),                 // UNet 64x64 feed-forward projection
        Upsampled([1, 32, 32, 640], 64, 64, 640, small: false, seed: 5),   // up_blocks.2 upsampler
        Upsampled([1, 64, 64, 512], 128, 128, 512, small: false, seed: 6), // VAE decoder up_blocks.1 upsampler
        SkipInput([1, 64, 64, 640], 320, 320, groups: 32, small: false, seed: 7),   // up_blocks.3.resnets.0 input
    ];

    private static HostTensor Fill(HostTensor t, Random r, float scale, float shift = 0f)
    {
        for (int i = 0; i < t.Data.Length; i++)
        {
            float u = (float)(r.NextDouble() * 2 - 1);
            t.Data[i] = scale * (u + (u >= 0 ? 0.05f : -0.05f)) + shift;   // never zero
        }
        return t;
    }

    private static Case Geglu(int[] x, int f, bool small, int seed)
    {
        var r = new Random(seed * 7919);
        var w = Fill(new HostTensor(2 * f, x[^1]), r, 1f / MathF.Sqrt(x[^1]));
        var b = Fill(new HostTensor(2 * f), r, 1f);
        long rows = ShapeUtil.Product(x) / x[^1];
        return new Case($"geglu [{string.Join(",", x)}] ->2x{f}", small, seed, [x],
            2.0 * (ShapeUtil.Product(x) + w.Count + rows * f), 2.0 * rows * 2 * f * x[^1],
            (ops, d) => ops.LinearGeglu(d[0], w, b));
    }

    private static Case Upsampled(int[] x, int upH, int upW, int o, bool small, int seed)
    {
        var r = new Random(seed * 7919);
        var w = Fill(new HostTensor(o, x[3], 3, 3), r, 1f / MathF.Sqrt(x[3] * 9));
        var b = Fill(new HostTensor(o), r, 1f);
        long m = (long)x[0] * upH * upW;
        return new Case($"upsample [{string.Join(",", x)}] ->{upH}x{upW} 3x3 ->{o}", small, seed, [x],
            2.0 * (ShapeUtil.Product(x) + w.Count + m * o), 2.0 * m * o * 9 * x[3],
            (ops, d) => ops.Conv2dUpsampled(d[0], upH, upW, w, b, 1, Pad2d.Same(1)));
    }

    /// <summary>A UNet up block's resnet input: GroupNorm + SiLU and the 1x1 conv_shortcut of concat(h, skip); the output
    /// is the sum of the two (so one tensor checks both readers).</summary>
    private static Case SkipInput(int[] h, int cSkip, int o, int groups, bool small, int seed)
    {
        var r = new Random(seed * 7919);
        int c = h[3] + cSkip;
        var gamma = Fill(new HostTensor(c), r, 0.5f, 1f);
        var beta = Fill(new HostTensor(c), r, 1f);
        var w = Fill(new HostTensor(o, c, 1, 1), r, 1f / MathF.Sqrt(c));
        var b = Fill(new HostTensor(o), r, 1f);
        var wn = Fill(new HostTensor(o, c, 1, 1), r, 1f / MathF.Sqrt(c));   // stands for conv1 on the normalised input
        long px = (long)h[0] * h[1] * h[2];
        return new Case($"skip concat [{string.Join(",", h)}]++{cSkip} g{groups} ->{o}", small, seed, [h, [h[0], h[1], h[2], cSkip]],
            2.0 * (2 * px * c + px * c + 2 * px * o), 2.0 * 2 * px * o * c,
            (ops, d) =>
            {
                DeviceTensor n, s;
                if (ops.FoldsConcat)
                {
                    n = ops.GroupNormConcat(d[0], d[1], gamma, beta, groups, 1e-5f, silu: true);
                    s = ops.Conv2dConcat(d[0], d[1], w, b, 1, Pad2d.Same(0));
                }
                else
                {
                    using var cat = ops.ConcatChannels(d[0], d[1]);
                    n = ops.GroupNorm(cat, gamma, beta, groups, 1e-5f, silu: true);
                    s = ops.Conv2d(cat, w, b, 1, Pad2d.Same(0));
                }
                using (n) using (s) return ops.Conv2d(n, wn, null, 1, Pad2d.Same(0), s);
            });
    }

    public sealed class Case(string name, bool small, int seed, int[][] inputs, double bytes, double flops, Func<IOps, DeviceTensor[], DeviceTensor> apply)
        : KernelCase
    {
        public override string Name => name;
        public override bool Small => small;
        public override double Bytes => bytes;
        public override double Flops => flops;
        public override HostTensor[] Inputs()
        {
            var r = new Random(seed);
            return inputs.Select(s => Fill(new HostTensor(s), r, 1f, 0.25f)).ToArray();
        }
        public override HostTensor Reference(IOps cpu, DeviceTensor[] d) { using var y = apply(cpu, d); return cpu.Download(y); }
        public DeviceTensor Apply(IOps ops, DeviceTensor[] d) => apply(ops, d);
    }

    /// <summary>The shipped CudaOps with its fusions set for the call.</summary>
    private sealed class WithFusions(string name, string summary, CudaFusions fusions) : IKernelVersion
    {
        public string Name => name;
        public string Summary => summary;
        public DeviceTensor Run(CudaOps ops, KernelCase c, DeviceTensor[] inputs)
        {
            var saved = ops.Fusions;
            ops.Fusions = fusions;
            try { return ((Case)c).Apply(ops, inputs); }
            finally { ops.Fusions = saved; }
        }
    }
}
