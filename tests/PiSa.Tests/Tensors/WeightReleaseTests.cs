using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Engine.Lora;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Common;
using PiSa.Engine.Models.Unet;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;
using PiSa.Engine.Text;
using System.Runtime.CompilerServices;

namespace PiSa.Tests.Tensors;

/// <summary>
/// Weights held once on the CPU: a packed weight's float copy is released where its source can make it again, and
/// every later read (another weight set's merge, a fused projection, another backend) gets the same values back.
/// </summary>
public sealed class WeightReleaseTests
{
    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;

    /// <summary>A reloadable source that remembers every tensor it handed out and still holds (evicted ones are forgotten).</summary>
    private sealed class Tracking(IReloadableWeightSource inner) : IReloadableWeightSource
    {
        public readonly Dictionary<string, HostTensor> Given = new(StringComparer.Ordinal);
        public bool Contains(string name) => inner.Contains(name);
        public IEnumerable<string> Names => inner.Names;
        public int[] ShapeOf(string name) => inner.ShapeOf(name);
        public HostTensor Get(string name) { var t = inner.Get(name); lock (Given) Given[name] = t; return t; }
        public void Evict(string name) { inner.Evict(name); lock (Given) Given.Remove(name); }
    }

    [Fact]
    public void A_released_tensor_reads_back_bit_identical_and_a_plain_one_is_never_released()
    {
        using var src = SafetensorsWeightSource.Open(ModelFiles.Locate(Sd).UNetWeights);
        var t = src.Get("conv_in.weight");
        var before = (float[])t.Data.Clone();
        Assert.True(t.CanRelease);
        Assert.Equal(4L * t.Count, t.ReleaseData());
        Assert.False(t.IsResident);
        Assert.Equal(0, t.ReleaseData());
        Assert.Equal(before, t.Data);          // read again from the mapped file
        Assert.True(t.IsResident);
        Assert.Same(t, src.Get("conv_in.weight"));

        var plain = new HostTensor([2, 2], [1f, 2f, 3f, 4f]);
        Assert.False(plain.CanRelease);
        Assert.Equal(0, plain.ReleaseData());
        Assert.Equal([1f, 2f, 3f, 4f], plain.Data);
    }

    [Fact]
    public void Merged_and_fused_weights_are_remade_from_their_parts_and_leave_the_parts_released()
    {
        using var src = SafetensorsWeightSource.Open(ModelFiles.Locate(Sd).UNetWeights);
        var ckpt = PisaCheckpoint.Load(Lora);
        var merged = LoraMerger.PisaWeights(src, ckpt);
        string name = merged.MergedNames.First();
        var m = merged.Get(name);
        var values = (float[])m.Data.Clone();
        Assert.True(m.CanRelease);
        m.ReleaseData();
        Assert.Equal(values, m.Data);           // base re-read, deltas merged again: bit-identical

        string q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1";
        var parts = new[] { ".to_q", ".to_k", ".to_v" }.Select(s => new LinearLayer(src, q + s)).ToArray();
        var partValues = parts.Select(p => (float[])p.Weight.Data.Clone()).ToArray();
        var qkv = LinearLayer.Concat(q + ".qkv", parts);
        Assert.All(parts, p => Assert.False(p.Weight.IsResident));   // the fused copy replaced them
        var fusedValues = (float[])qkv.Weight.Data.Clone();
        Assert.Equal(partValues.SelectMany(v => v).ToArray(), fusedValues);
        qkv.Weight.ReleaseData();
        Assert.Equal(fusedValues, qkv.Weight.Data);
        Assert.All(parts, p => Assert.False(p.Weight.IsResident));   // remaking it did not bring the parts back
    }

    [Fact]
    public void After_a_cpu_forward_every_packed_weight_is_held_only_packed_and_a_second_pass_is_bit_identical()
    {
        using var ops = new CpuOps();
        var files = ModelFiles.Locate(Sd);
        using var unetFile = SafetensorsWeightSource.Open(files.UNetWeights);
        var unetSrc = new Tracking(unetFile);
        var cfg = DiffusersConfig.LoadUNet(files.UNetConfig);
        var weights = LoraMerger.PisaWeights(unetSrc, PisaCheckpoint.Load(Lora));
        using var unet = new UNet2DConditionModel(cfg, weights, ops);
        var rng = new Random(5);
        var z = new HostTensor([1, 8, 8, cfg.InChannels]);
        for (int i = 0; i < z.Data.Length; i++) z.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        var ctx = new HostTensor([1, 77, cfg.CrossAttentionDim]);
        for (int i = 0; i < ctx.Data.Length; i++) ctx.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        using var zd = ops.Upload(z);
        using var cd = ops.Upload(ctx);

        float[] first;
        using (var y = unet.Forward(zd, UpscalePipeline.Timestep, cd)) first = ops.Download(y).Data;
        // Every matrix the UNet reads (conv and linear weights: rank 2 and 4), from the base or merged, is packed and
        // its float copy gone; only vectors (biases, norm scales) stay as floats.
        var held = unetSrc.Given.Concat(weights.MergedTensors.Select((t, i) => KeyValuePair.Create($"merged #{i}", t)))
            .Where(p => p.Value.Rank >= 2 && p.Value.IsResident).Select(p => p.Key).ToList();
        Assert.True(weights.MergedTensors.Count > 0);
        Assert.Empty(held);
        Assert.True(ops.ReleasedWeightBytes > 0);

        using (var y = unet.Forward(zd, UpscalePipeline.Timestep, cd)) Assert.Equal(first, ops.Download(y).Data);
    }

    [Fact]
    public void Switching_weight_sets_with_room_for_one_gives_the_same_images_as_fresh_models()
    {
        var input = ImageIO.Load(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"));
        UpscaleOptions O(LoraMode mode, float lp = 1, float ls = 1) => new() { Mode = mode, LambdaPix = lp, LambdaSem = ls, ProcessSize = 64 };
        float[] Fresh(UpscaleOptions o)
        {
            using var ops = new CpuOps();
            using var model = PisaModel.Load(Sd, Lora, ops);
            return new UpscalePipeline(model).Run(input, o, keepTensors: true).Tensors!["unet_pred"].Data;
        }
        using var ops = new CpuOps();
        using var model = PisaModel.Load(Sd, Lora, ops, weightSetBudgetBytes: 1);   // every new set evicts the last
        var pipeline = new UpscalePipeline(model);
        float[] Run(UpscaleOptions o) => pipeline.Run(input, o, keepTensors: true).Tensors!["unet_pred"].Data;
        var modes = new[] { O(LoraMode.Default), O(LoraMode.Adjustable, 0.5f, 1.2f), O(LoraMode.Fused, 0.3f, 0.8f), O(LoraMode.Default) };
        var got = modes.Select(Run).ToList();
        Assert.True(model.WeightSets.Evictions >= 2);
        Assert.True(ops.ReleasedWeightBytes > 0);
        Assert.Equal(got[0], got[3]);
        Assert.Equal(Fresh(modes[0]), got[0]);
        Assert.Equal(Fresh(modes[1]), got[1]);
        Assert.Equal(Fresh(modes[2]), got[2]);
    }

    [Fact]
    public void The_text_encoder_and_its_packed_copies_become_collectable_once_the_prompt_is_cached()
    {
        using var ops = new CpuOps();
        var files = ModelFiles.Locate(Sd);
        using var unetW = SafetensorsWeightSource.Open(files.UNetWeights);
        using var vaeW = SafetensorsWeightSource.Open(files.VaeWeights);
        using var textFile = SafetensorsWeightSource.Open(files.TextWeights);
        var text = new Tracking(textFile);
        using var model = new PisaModel(ops, DiffusersConfig.LoadUNet(files.UNetConfig), unetW, DiffusersConfig.LoadVae(files.VaeConfig), vaeW,
            DiffusersConfig.LoadClipText(files.TextConfig), text, ClipTokenizer.Load(files.TokenizerDir), PisaCheckpoint.Load(Lora));
        var weak = Weakly(text);
        Assert.True(weak.Count > 10 && model.TextEncoderLoaded);
        model.PromptEmbeddings("a photo");
        Assert.False(model.TextEncoderLoaded);
        Assert.Empty(text.Given);                      // the source let go of every tensor
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        // Nothing else holds them: the encoder's float copies are gone, and with them (weakly keyed) the packed ones.
        Assert.DoesNotContain(weak, w => w.IsAlive);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static List<WeakReference> Weakly(Tracking source)
    {
        lock (source.Given) return source.Given.Values.Select(t => new WeakReference(t)).ToList();
    }
}
