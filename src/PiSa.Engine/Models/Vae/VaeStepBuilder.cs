using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Vae;

/// <summary>
/// Builds the step lines of diffusers 0.25 Encoder / Decoder (models/autoencoders/vae.py) from a
/// <see cref="VaeConfig"/> and the weights named as in AutoencoderKL's state dict.
///
/// Encoder: conv_in; per DownEncoderBlock2D layers_per_block ResnetBlock2D then (all but the last block)
/// Downsample2D with padding 0 = zero pad (bottom 1, right 1) and a 3x3 stride-2 conv; UNetMidBlock2D
/// (resnet, single-head attention, resnet); conv_norm_out + SiLU + conv_out to 2*latent channels.
/// Decoder: conv_in; mid block; per UpDecoderBlock2D layers_per_block+1 resnets then (all but the last)
/// Upsample2D = nearest 2x + 3x3 conv; conv_norm_out + SiLU + conv_out. Every GroupNorm and the
/// resnets use eps 1e-6 and norm_num_groups.
///
/// <paramref name="vaeHookLayout"/> builds the line the way PiSA-SR's VAEHook (src/my_utils/vaehook.py,
/// build_task_queue) rebuilds it for tiling, which differs from the module in three hard-coded ways:
/// every GroupNorm uses 32 groups (get_var_mean / custom_group_norm are called with 32), the encoder runs
/// resnets[0..2) of each down block and the decoder resnets[0..3) of each up block (the SD layout), and
/// the mid attention is always taken. With SD's VAE (32 groups, 2 layers per block) both lines are the
/// same computation. Where the official hook would crash (channels not a multiple of 32, fewer resnets,
/// no mid attention) this line keeps the module's own value instead.
/// </summary>
public static class VaeStepBuilder
{
    /// <summary>GroupNorm epsilon of every norm in the VAE (diffusers passes resnet_eps=1e-6 and eps=1e-6).</summary>
    public const float Eps = 1e-6f;
    /// <summary>The group count VAEHook hard-codes for its pooled GroupNorm.</summary>
    public const int VaeHookGroups = 32;
    private const int VaeHookEncoderResnets = 2;
    private const int VaeHookDecoderResnets = 3;

    public static void Validate(VaeConfig cfg)
    {
        int nb = cfg.BlockOutChannels.Length;
        if (nb == 0) throw new PisaException("VAE config: block_out_channels is empty");
        if (cfg.DownBlockTypes.Length != nb || cfg.UpBlockTypes.Length != nb)
            throw new PisaException($"VAE config: {cfg.DownBlockTypes.Length} down / {cfg.UpBlockTypes.Length} up block types for {nb} block_out_channels");
        foreach (var t in cfg.DownBlockTypes)
            if (t != "DownEncoderBlock2D") throw new PisaException($"VAE config: down block type '{t}' is not supported (only DownEncoderBlock2D)");
        foreach (var t in cfg.UpBlockTypes)
            if (t != "UpDecoderBlock2D") throw new PisaException($"VAE config: up block type '{t}' is not supported (only UpDecoderBlock2D)");
        if (cfg.LayersPerBlock < 1) throw new PisaException($"VAE config: layers_per_block {cfg.LayersPerBlock} < 1");
        if (cfg.NormNumGroups < 1) throw new PisaException($"VAE config: norm_num_groups {cfg.NormNumGroups} < 1");
        foreach (int c in cfg.BlockOutChannels)
            if (c < 1 || c % cfg.NormNumGroups != 0)
                throw new PisaException($"VAE config: block width {c} is not a multiple of norm_num_groups {cfg.NormNumGroups}");
    }

    public static List<VaeStep> Encoder(VaeConfig cfg, IWeightSource w, bool vaeHookLayout)
    {
        var b = new Line(cfg, w, "encoder.", vaeHookLayout);
        var ch = cfg.BlockOutChannels;
        b.Conv("conv_in", ch[0], cfg.InChannels, 3, 1, Pad2d.Same(1), false);
        int cur = ch[0];
        for (int i = 0; i < ch.Length; i++)
        {
            int layers = vaeHookLayout ? HookCount(VaeHookEncoderResnets, cfg.LayersPerBlock) : cfg.LayersPerBlock;
            for (int j = 0; j < layers; j++)
            {
                b.Resnet($"down_blocks.{i}.resnets.{j}", cur, ch[i]);
                cur = ch[i];
            }
            if (i != ch.Length - 1)
                b.Conv($"down_blocks.{i}.downsamplers.0.conv", cur, cur, 3, 2, new Pad2d(0, 1, 0, 1), false);
        }
        b.Mid(cur);
        b.Norm("conv_norm_out", cur, silu: true);
        b.Conv("conv_out", 2 * cfg.LatentChannels, cur, 3, 1, Pad2d.Same(1), false);
        return b.Steps;
    }

    public static List<VaeStep> Decoder(VaeConfig cfg, IWeightSource w, bool vaeHookLayout)
    {
        var b = new Line(cfg, w, "decoder.", vaeHookLayout);
        var ch = cfg.BlockOutChannels;
        int cur = ch[^1];
        b.Conv("conv_in", cur, cfg.LatentChannels, 3, 1, Pad2d.Same(1), false);
        b.Mid(cur);
        for (int i = 0; i < ch.Length; i++)
        {
            int outC = ch[ch.Length - 1 - i];
            int layers = vaeHookLayout ? HookCount(VaeHookDecoderResnets, cfg.LayersPerBlock + 1) : cfg.LayersPerBlock + 1;
            for (int j = 0; j < layers; j++)
            {
                b.Resnet($"up_blocks.{i}.resnets.{j}", cur, outC);
                cur = outC;
            }
            if (i != ch.Length - 1)
            {
                b.Steps.Add(new VaeUpsampleStep($"decoder.up_blocks.{i}.upsamplers.0"));
                b.Conv($"up_blocks.{i}.upsamplers.0.conv", cur, cur, 3, 1, Pad2d.Same(1), false);
            }
        }
        b.Norm("conv_norm_out", cur, silu: true);
        b.Conv("conv_out", cfg.OutChannels, cur, 3, 1, Pad2d.Same(1), false);
        return b.Steps;
    }

    /// <summary>VAEHook's hard-coded resnet count, unless the module has fewer (the hook would fail there).</summary>
    private static int HookCount(int hookCount, int moduleCount) =>
        Math.Min(hookCount, moduleCount);

    /// <summary>Reads a conv/linear/norm parameter and checks its shape, naming the tensor on mismatch.</summary>
    public static HostTensor Param(IWeightSource w, string name, params int[] shape)
    {
        HostTensor t;
        try { t = w.Get(name); }
        catch (KeyNotFoundException e) { throw new PisaException($"VAE weights: missing tensor '{name}'", e); }
        if (!ShapeUtil.Equal(t.Shape, shape))
            throw new PisaException($"VAE weights: tensor '{name}' has shape [{ShapeUtil.Format(t.Shape)}], expected [{ShapeUtil.Format(shape)}]");
        return t;
    }

    private sealed class Line(VaeConfig cfg, IWeightSource w, string prefix, bool hook)
    {
        public List<VaeStep> Steps { get; } = [];

        public void Conv(string name, int outC, int inC, int k, int stride, Pad2d pad, bool addsResidual)
        {
            var wt = Param(w, prefix + name + ".weight", outC, inC, k, k);
            var bs = Param(w, prefix + name + ".bias", outC);
            Steps.Add(new VaeConvStep(prefix + name, wt, bs, stride, pad, addsResidual));
        }

        public void Norm(string name, int channels, bool silu)
        {
            int groups = hook && channels % VaeHookGroups == 0 ? VaeHookGroups : cfg.NormNumGroups;
            Steps.Add(new VaeNormStep(prefix + name,
                Param(w, prefix + name + ".weight", channels), Param(w, prefix + name + ".bias", channels), groups, Eps, silu));
        }

        public void Resnet(string name, int inC, int outC)
        {
            if (inC != outC)
                Steps.Add(new VaeSaveResidualStep(prefix + name + ".conv_shortcut",
                    Param(w, prefix + name + ".conv_shortcut.weight", outC, inC, 1, 1), Param(w, prefix + name + ".conv_shortcut.bias", outC)));
            else
                Steps.Add(new VaeSaveResidualStep(prefix + name, null, null));
            Norm(name + ".norm1", inC, silu: true);
            Conv(name + ".conv1", outC, inC, 3, 1, Pad2d.Same(1), false);
            Norm(name + ".norm2", outC, silu: true);
            Conv(name + ".conv2", outC, outC, 3, 1, Pad2d.Same(1), addsResidual: true);
        }

        public void Mid(int c)
        {
            Resnet("mid_block.resnets.0", c, c);
            if (cfg.MidBlockAddAttention)
            {
                // UNetMidBlock2D is built with attention_head_dim = channels: one head of dimension c.
                string a = "mid_block.attentions.0";
                Steps.Add(new VaeSaveResidualStep(prefix + a, null, null));
                Norm(a + ".group_norm", c, silu: false);
                Steps.Add(new VaeAttentionStep(prefix + a, 1,
                    AttnParam(a, "to_q", "query", ".weight", c), AttnParam(a, "to_q", "query", ".bias", c),
                    AttnParam(a, "to_k", "key", ".weight", c), AttnParam(a, "to_k", "key", ".bias", c),
                    AttnParam(a, "to_v", "value", ".weight", c), AttnParam(a, "to_v", "value", ".bias", c),
                    AttnParam(a, "to_out.0", "proj_attn", ".weight", c), AttnParam(a, "to_out.0", "proj_attn", ".bias", c)));
            }
            Resnet("mid_block.resnets.1", c, c);
        }

        /// <summary>An attention linear by its diffusers name, or by the pre-0.14 name (query/key/value/proj_attn)
        /// that diffusers still converts on load; old files may also store the weight as a [c, c, 1, 1] conv.</summary>
        private HostTensor AttnParam(string module, string name, string legacy, string suffix, int c)
        {
            string n = $"{prefix}{module}.{name}{suffix}", old = $"{prefix}{module}.{legacy}{suffix}";
            if (!w.Contains(n) && w.Contains(old))
            {
                var t = w.Get(old);
                if (suffix == ".weight" && ShapeUtil.Equal(t.Shape, [c, c, 1, 1])) return Legacy(old, t, c);
                return Param(w, old, suffix == ".weight" ? [c, c] : [c]);
            }
            return suffix == ".weight" ? Param(w, n, c, c) : Param(w, n, c);
        }

        // One reshaped view per legacy tensor, cached so backends see the same object on every call.
        private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<HostTensor, HostTensor> LegacyViews = new();
        private static HostTensor Legacy(string name, HostTensor t, int c) => LegacyViews.GetValue(t, x => x.Reshape(c, c));
    }
}
