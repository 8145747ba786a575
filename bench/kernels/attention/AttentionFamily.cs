using PiSa.Bench.Kernels.Attention;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Bench.Kernels;

/// <summary>
/// Attention in the `pisa kernels` harness: the versions of <see cref="AttentionVersions.All"/> (each launched through
/// its own CudaKernels entry, or CudaOps' own dispatch for the GEMM path), as two families because no version takes
/// every head width: "attention" for the heads of 8 to 64 (UNet, CLIP, the tiny models: simt, mma, flash) and
/// "attention-wide" for one head wider than 64 (the VAE's 512: simt, gemm).
/// </summary>
public sealed class AttentionFamily : IKernelFamily
{
    public static AttentionFamily Narrow { get; } = new("attention", "multi-head attention, heads of 8 to 64 (UNet, CLIP)", wide: false,
    [
        new Case(new AttentionShape(1, 130, 150, 2, 64, false), small: true),   // query and key tails, 3 key tiles
        new Case(new AttentionShape(1, 77, 77, 4, 16, true), small: true),      // causal (CLIP-like), small head
        new Case(new AttentionShape(1, 4096, 4096, 5, 64, false), small: false),// UNet 64x64 self-attention at 512x512
        new Case(new AttentionShape(1, 1024, 1024, 10, 64, false), small: false),
        new Case(new AttentionShape(1, 4096, 77, 5, 64, false), small: false),  // cross-attention on the prompt
        new Case(new AttentionShape(1, 77, 77, 16, 64, true), small: false),    // CLIP
    ]);

    public static AttentionFamily Wide { get; } = new("attention-wide", "one attention head wider than 64 (the VAE mid block's 512)", wide: true,
    [
        new Case(new AttentionShape(1, 40, 27, 1, 512, false), small: true),
        new Case(new AttentionShape(1, 4096, 4096, 1, 512, false), small: false),  // VAE mid block at 512x512
        new Case(new AttentionShape(1, 16384, 16384, 1, 512, false), small: false),// at 1024x1024
    ]);

    private AttentionFamily(string name, string summary, bool wide, IReadOnlyList<KernelCase> cases)
    {
        Name = name; Summary = summary; Cases = cases;
        Versions = AttentionVersions.All.Where(v => v.Name == "simt" || (wide ? v.Name == "gemm" : v.Name is "mma" or "flash"))
            .Select(v => (IKernelVersion)new Version(v)).ToList();
    }

    public string Name { get; }
    public string Summary { get; }
    public double Tolerance => OpsSelfTest.ComputeTolerance;
    public IReadOnlyList<IKernelVersion> Versions { get; }
    public IReadOnlyList<KernelCase> Cases { get; }

    /// <summary>Random q, k, v of one shape (<see cref="AttentionVersions.Inputs"/>), seeded by the shape.</summary>
    public sealed class Case(AttentionShape shape, bool small) : KernelCase
    {
        public AttentionShape Shape => shape;
        public override string Name => shape.ToString();
        public override bool Small => small;
        public override double Flops => shape.Flops;
        public override double Bytes => 2.0 * shape.B * shape.Heads * shape.D * (2.0 * shape.Lq + 2.0 * shape.Lk);
        public override HostTensor[] Inputs() => AttentionVersions.Inputs(shape, shape.Lq * 31 + shape.Lk * 7 + shape.D);
        public override HostTensor Reference(IOps cpu, DeviceTensor[] x) =>
            cpu.Download(cpu.Attention(x[0], x[1], x[2], shape.Heads, shape.Causal));
    }

    private sealed class Version(AttentionVersions.Version v) : IKernelVersion
    {
        public string Name => v.Name;
        public string Summary => v.Summary;
        public DeviceTensor Run(CudaOps ops, KernelCase c, DeviceTensor[] x)
        {
            var s = ((Case)c).Shape;
            if (!v.Takes(s.D, s.Heads)) throw new PisaException($"attention version {v.Name} does not take {s}");
            // The kernel versions launch through their own CudaKernels: hand it the harness's observer so the
            // launches and counters are seen.
            var kernels = new CudaKernels(ops.Runtime) { Observer = ops.LaunchObserver };
            int[] shape = [s.B, s.Lq, s.Heads * s.D];
            var y = new CudaTensor(shape, new DeviceMemory(ops.Runtime, ShapeUtil.Product(shape) * 2));
            var own = v.Launch(ops, kernels, (CudaTensor)x[0], (CudaTensor)x[1], (CudaTensor)x[2], y, s);
            if (own is null) return y;
            y.Dispose();
            return own;
        }
    }
}
