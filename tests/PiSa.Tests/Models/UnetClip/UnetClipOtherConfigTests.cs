using PiSa.Engine.Backends;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Clip;
using PiSa.Engine.Models.Descriptions;
using PiSa.Engine.Models.Unet;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>
/// Configurations other than the fixture's (block counts, widths, heads, groups, layers, projections, activations),
/// with random weights shaped by the state-dict descriptions: every weight must be used, and the model must give
/// the same result on the naive reference ops and the CPU backend, on odd latent sizes.
/// </summary>
public class UnetClipOtherConfigTests
{
    private static IWeightSource RandomWeights(IEnumerable<ParamSpec> specs, int seed)
    {
        var rng = new Random(seed);
        var d = new Dictionary<string, HostTensor>();
        foreach (var s in specs)
        {
            if (s.IsBuffer) continue;
            var t = new HostTensor(s.Shape);
            // fan-in scaled uniform (norm weights around 1) so activations stay O(1) through the network
            bool norm = s.Shape.Length == 1 && s.Name.EndsWith(".weight") && s.Name.Contains("norm");
            double scale = s.Shape.Length == 1 ? 0.1 : 1.0 / Math.Sqrt(t.Count / s.Shape[0]);
            for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)((norm ? 1 : 0) + scale * (rng.NextDouble() * 2 - 1));
            d[s.Name] = t;
        }
        return new DictionaryWeightSource(d, "random");
    }

    public static TheoryData<int> UnetConfigs() => new() { 0, 1, 2 };

    private static UNetConfig Config(int which) => which switch
    {
        0 => new UNetConfig
        {
            BlockOutChannels = [8, 16], DownBlockTypes = ["CrossAttnDownBlock2D", "DownBlock2D"],
            UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D"], AttentionHeads = [2, 4], LayersPerBlock = 1,
            CrossAttentionDim = 12, NormNumGroups = 4, TransformerLayersPerBlock = 2,
        },
        1 => new UNetConfig
        {
            BlockOutChannels = [12, 12, 24], DownBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            UpBlockTypes = ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"], AttentionHeads = [3, 1, 2],
            LayersPerBlock = 3, CrossAttentionDim = 8, NormNumGroups = 3, InChannels = 5, OutChannels = 3,
        },
        _ => new UNetConfig
        {
            BlockOutChannels = [8, 16, 16], DownBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"], AttentionHeads = [1, 2, 2],
            LayersPerBlock = 2, CrossAttentionDim = 8, NormNumGroups = 8, UseLinearProjection = false, FlipSinToCos = false,
            FreqShift = 1, MidBlockScaleFactor = 1.5f, NormEps = 1e-6f,
        },
    };

    [Theory, MemberData(nameof(UnetConfigs))]
    public void Unet_OtherConfig_SameOnNaiveAndCpu_UsesAllWeights(int which)
    {
        var cfg = Config(which);
        var specs = UNetDescription.Build(cfg);
        var w = RandomWeights(specs, seed: 100 + which);
        var rng = new Random(which);
        var sample = new HostTensor(2, 7, 5, cfg.InChannels); // odd sizes: 7x5 -> 4x3 -> 2x2
        for (int i = 0; i < sample.Data.Length; i++) sample.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        var ctx = new HostTensor(1, 6, cfg.CrossAttentionDim);
        for (int i = 0; i < ctx.Data.Length; i++) ctx.Data[i] = (float)(rng.NextDouble() * 2 - 1);

        HostTensor Run(IOps ops)
        {
            var model = new UNet2DConditionModel(cfg, w, ops);
            using var x = ops.Upload(sample);
            using var c = ops.Upload(ctx);
            using var y = model.Forward(x, 1f, c);
            return ops.Download(y);
        }

        using var naive = new NaiveOps();
        using var cpu = new PiSa.Engine.Backends.Cpu.CpuOps();
        var a = Run(naive);
        var b = Run(cpu);
        Assert.Equal(new[] { 2, 7, 5, cfg.OutChannels }, a.Shape);
        Assert.True(a.Data.All(float.IsFinite));
        AssertRel(a, b, 1e-5);

        var recording = new RecordingWeightSource(w);
        _ = new UNet2DConditionModel(cfg, recording, naive);
        Assert.Empty(specs.Where(s => !s.IsBuffer).Select(s => s.Name).Except(recording.Used.Keys));
    }

    [Theory]
    [InlineData("gelu", 12, 3, 3)]
    [InlineData("quick_gelu", 8, 1, 2)]
    public void Clip_OtherConfig_SameOnNaiveAndCpu(string act, int hidden, int heads, int layers)
    {
        var cfg = new ClipTextConfig
        {
            VocabSize = 50, HiddenSize = hidden, IntermediateSize = 2 * hidden + 4, NumHiddenLayers = layers,
            NumAttentionHeads = heads, MaxPositionEmbeddings = 9, HiddenAct = act,
        };
        var w = RandomWeights(ClipTextDescription.Build(cfg), seed: hidden);
        int[] ids = [0, 49, 3, 7, 7, 1, 2, 2, 2];
        HostTensor Run(IOps ops)
        {
            var model = new ClipTextModel(cfg, w, ops);
            using var y = model.Encode(ids);
            return ops.Download(y);
        }
        using var naive = new NaiveOps();
        using var cpu = new PiSa.Engine.Backends.Cpu.CpuOps();
        var a = Run(naive);
        Assert.Equal(new[] { 1, 9, hidden }, a.Shape);
        AssertRel(a, Run(cpu), 1e-5);

        // causal: the first k outputs do not depend on later tokens
        var model = new ClipTextModel(cfg, w, naive);
        using var prefix = model.Encode(ids[..4]);
        var p = naive.Download(prefix);
        for (int i = 0; i < p.Data.Length; i++) Assert.True(Math.Abs(p.Data[i] - a.Data[i]) < 1e-5f, $"element {i}");
    }

    /// <summary>Relative L2 of <paramref name="b"/> against the reference <paramref name="a"/>, below <paramref name="tol"/>.</summary>
    private static void AssertRel(HostTensor a, HostTensor b, double tol)
    {
        double r = Metrics.RelativeL2(b, a);
        Assert.True(r < tol, $"naive vs cpu relative L2 {r:E3}");
    }
}
