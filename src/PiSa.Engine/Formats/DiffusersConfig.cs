using PiSa.Engine.Models;

namespace PiSa.Engine.Formats;

/// <summary>
/// Reads diffusers/transformers <c>config.json</c> files into the engine's config records.
/// Omitted fields take the defaults of diffusers 0.25.0 (UNet2DConditionModel.__init__,
/// AutoencoderKL.__init__) and transformers 4.28 (CLIPTextConfig): note those are NOT always the
/// SD2.1 values (e.g. UNet use_linear_projection defaults to false, cross_attention_dim to 1280).
/// Options that change the network in ways the engine does not implement are refused with a
/// <see cref="PisaException"/> naming the file, the field and the value; purely training-time fields
/// (dropout, sample_size, initializer ranges) and unknown keys are ignored, as diffusers ignores them.
/// </summary>
public static class DiffusersConfig
{
    public static UNetConfig LoadUNet(string path) => ParseUNet(ReadFile(path), path);
    public static VaeConfig LoadVae(string path) => ParseVae(ReadFile(path), path);
    public static ClipTextConfig LoadClipText(string path) => ParseClipText(ReadFile(path), path);

    private static readonly string[] DefaultUNetDown = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
    private static readonly string[] DefaultUNetUp = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];

    /// <param name="source">Names the config in error messages (the file path when read from disk).</param>
    public static UNetConfig ParseUNet(string json, string source = "unet/config.json")
    {
        var r = new DiffusersConfigReader(json, source);
        CheckClass(r, "UNet2DConditionModel");

        var blockOut = r.CountList("block_out_channels", [320, 640, 1280, 1280], 1, ConfigLimits.MaxWidth, ConfigLimits.MaxBlocks);
        var down = r.StringList("down_block_types", DefaultUNetDown).Select(StripUNetRes).ToArray();
        var up = r.StringList("up_block_types", DefaultUNetUp).Select(StripUNetRes).ToArray();
        int n = blockOut.Length;
        if (n == 0) throw r.Refuse("block_out_channels", "must not be empty");
        if (down.Length != n) throw r.Refuse("down_block_types", $"expected {n} block types (one per block_out_channels)");
        if (up.Length != n) throw r.Refuse("up_block_types", $"expected {n} block types (one per block_out_channels)");
        foreach (var t in down)
            if (t is not ("CrossAttnDownBlock2D" or "DownBlock2D"))
                throw r.Refuse("down_block_types", $"block type '{t}' is not supported (supported: CrossAttnDownBlock2D, DownBlock2D)");
        foreach (var t in up)
            if (t is not ("CrossAttnUpBlock2D" or "UpBlock2D"))
                throw r.Refuse("up_block_types", $"block type '{t}' is not supported (supported: CrossAttnUpBlock2D, UpBlock2D)");
        // diffusers' mid_block_type may be null (no mid block); the engine needs the cross-attention one.
        if (r.IsExplicitNull("mid_block_type"))
            throw r.Refuse("mid_block_type", "a UNet without mid block is not supported");
        string mid = r.OneOf("mid_block_type", "UNetMidBlock2DCrossAttn");

        // diffusers 0.25 raises on num_attention_heads; attention_head_dim is the NUMBER of heads
        // (the historical naming bug), an int applying to every block.
        r.RequireAbsent("num_attention_heads", "num_attention_heads (diffusers 0.25 refuses it; attention_head_dim holds the head count)");
        var heads = r.IntOrPerBlock("attention_head_dim", 8, n);
        for (int i = 0; i < n; i++)
        {
            if (heads[i] <= 0 || blockOut[i] % heads[i] != 0)
                throw r.Refuse("attention_head_dim", $"block {i}: {blockOut[i]} channels are not divisible into {heads[i]} heads");
        }

        if (r.IsExplicitNull("norm_num_groups"))
            throw r.Refuse("norm_num_groups", "a UNet without group norms is not supported");
        int groups = r.Count("norm_num_groups", 32, 1, ConfigLimits.MaxWidth);
        for (int i = 0; i < n; i++)
            if (blockOut[i] % groups != 0)
                throw r.Refuse("norm_num_groups", $"block_out_channels[{i}] = {blockOut[i]} is not divisible by it");

        int convIn = r.Count("conv_in_kernel", 3, 1, ConfigLimits.MaxKernel), convOut = r.Count("conv_out_kernel", 3, 1, ConfigLimits.MaxKernel);
        if (convIn % 2 == 0) throw r.Refuse("conv_in_kernel", "expected a positive odd kernel size");
        if (convOut % 2 == 0) throw r.Refuse("conv_out_kernel", "expected a positive odd kernel size");

        // Options that would change the network into something the engine does not compute.
        r.OneOf("act_fn", "silu");
        r.RequireAllFalse("only_cross_attention", "only_cross_attention");
        if (r.Bool("mid_block_only_cross_attention", false)) throw r.Refuse("mid_block_only_cross_attention", "only-cross-attention mid block is not supported");
        if (r.Bool("dual_cross_attention", false)) throw r.Refuse("dual_cross_attention", "dual cross-attention is not supported");
        if (r.Bool("center_input_sample", false)) throw r.Refuse("center_input_sample", "input centering is not supported");
        if (r.Bool("class_embeddings_concat", false)) throw r.Refuse("class_embeddings_concat", "class embedding concatenation is not supported");
        r.RequireAbsent("class_embed_type", "class_embed_type");
        r.RequireAbsent("num_class_embeds", "num_class_embeds (class embedding)");
        r.RequireAbsent("addition_embed_type", "addition_embed_type");
        r.RequireAbsent("encoder_hid_dim", "encoder_hid_dim");
        r.RequireAbsent("encoder_hid_dim_type", "encoder_hid_dim_type");
        r.RequireAbsent("time_cond_proj_dim", "time_cond_proj_dim");
        r.RequireAbsent("time_embedding_act_fn", "time_embedding_act_fn");
        r.RequireAbsent("timestep_post_act", "timestep_post_act");
        r.RequireAbsent("cross_attention_norm", "cross_attention_norm");
        r.RequireAbsent("reverse_transformer_layers_per_block", "reverse_transformer_layers_per_block");
        r.OneOf("resnet_time_scale_shift", "default");
        r.OneOf("time_embedding_type", "positional");
        r.OneOf("attention_type", "default");
        if (r.Has("time_embedding_dim") && r.Int("time_embedding_dim", 0) != blockOut[0] * 4)
            throw r.Refuse("time_embedding_dim", $"only the default width block_out_channels[0]*4 = {blockOut[0] * 4} is supported");
        // resnet_skip_time_act and resnet_out_scale_factor only reach the Simple*/ResnetDownsample blocks,
        // which are refused above: for the supported block types diffusers ignores them too.

        int transformerLayers = r.CheckCount("transformer_layers_per_block", r.UniformInt("transformer_layers_per_block", 1, n), 1, ConfigLimits.MaxTransformerLayers);
        int layers = r.CheckCount("layers_per_block", r.UniformInt("layers_per_block", 2, n), 1, ConfigLimits.MaxLayersPerBlock);
        int crossDim = r.CheckCount("cross_attention_dim", r.UniformInt("cross_attention_dim", 1280, n), 1, ConfigLimits.MaxWidth);

        return new UNetConfig
        {
            InChannels = r.Count("in_channels", 4, 1, ConfigLimits.MaxIoChannels),
            OutChannels = r.Count("out_channels", 4, 1, ConfigLimits.MaxIoChannels),
            BlockOutChannels = blockOut,
            DownBlockTypes = down,
            UpBlockTypes = up,
            MidBlockType = mid,
            LayersPerBlock = layers,
            AttentionHeads = heads,
            CrossAttentionDim = crossDim,
            NormNumGroups = groups,
            NormEps = r.Float("norm_eps", 1e-5f),
            FlipSinToCos = r.Bool("flip_sin_to_cos", true),
            FreqShift = r.Float("freq_shift", 0),
            UseLinearProjection = r.Bool("use_linear_projection", false),
            DownsamplePadding = r.Count("downsample_padding", 1, 0, ConfigLimits.MaxKernel),
            MidBlockScaleFactor = r.Float("mid_block_scale_factor", 1),
            TransformerLayersPerBlock = transformerLayers,
            ConvInKernel = convIn,
            ConvOutKernel = convOut,
            // Accepted: the engine computes attention scores and softmax in fp32 anyway.
            UpcastAttention = r.Bool("upcast_attention", false),
            OnlyCrossAttention = false,
        };
    }

    public static VaeConfig ParseVae(string json, string source = "vae/config.json")
    {
        var r = new DiffusersConfigReader(json, source);
        CheckClass(r, "AutoencoderKL");

        var blockOut = r.CountList("block_out_channels", [64], 1, ConfigLimits.MaxWidth, ConfigLimits.MaxBlocks);
        var down = r.StringList("down_block_types", ["DownEncoderBlock2D"]);
        var up = r.StringList("up_block_types", ["UpDecoderBlock2D"]);
        int n = blockOut.Length;
        if (n == 0) throw r.Refuse("block_out_channels", "must not be empty");
        if (down.Length != n) throw r.Refuse("down_block_types", $"expected {n} block types (one per block_out_channels)");
        if (up.Length != n) throw r.Refuse("up_block_types", $"expected {n} block types (one per block_out_channels)");
        foreach (var t in down)
            if (t != "DownEncoderBlock2D") throw r.Refuse("down_block_types", $"block type '{t}' is not supported (supported: DownEncoderBlock2D)");
        foreach (var t in up)
            if (t != "UpDecoderBlock2D") throw r.Refuse("up_block_types", $"block type '{t}' is not supported (supported: UpDecoderBlock2D)");

        int groups = r.Count("norm_num_groups", 32, 1, ConfigLimits.MaxWidth);
        for (int i = 0; i < n; i++)
            if (blockOut[i] % groups != 0)
                throw r.Refuse("norm_num_groups", $"block_out_channels[{i}] = {blockOut[i]} is not divisible by it");

        r.OneOf("act_fn", "silu");
        // Newer diffusers fields that change the network or the latent scaling: refuse rather than ignore.
        if (!r.Bool("use_quant_conv", true)) throw r.Refuse("use_quant_conv", "a VAE without quant_conv is not supported");
        if (!r.Bool("use_post_quant_conv", true)) throw r.Refuse("use_post_quant_conv", "a VAE without post_quant_conv is not supported");
        r.RequireAbsent("shift_factor", "a latent shift_factor");
        r.RequireAbsent("latents_mean", "per-channel latents_mean");
        r.RequireAbsent("latents_std", "per-channel latents_std");

        int layers = r.Count("layers_per_block", 1, 1, ConfigLimits.MaxLayersPerBlock);

        return new VaeConfig
        {
            InChannels = r.Count("in_channels", 3, 1, ConfigLimits.MaxIoChannels),
            OutChannels = r.Count("out_channels", 3, 1, ConfigLimits.MaxIoChannels),
            BlockOutChannels = blockOut,
            DownBlockTypes = down,
            UpBlockTypes = up,
            LayersPerBlock = layers,
            LatentChannels = r.Count("latent_channels", 4, 1, ConfigLimits.MaxIoChannels),
            NormNumGroups = groups,
            ScalingFactor = r.Float("scaling_factor", 0.18215f),
            // Not a diffusers 0.25 AutoencoderKL argument (always true there); newer configs may carry it.
            MidBlockAddAttention = r.Bool("mid_block_add_attention", true),
        };
    }

    public static ClipTextConfig ParseClipText(string json, string source = "text_encoder/config.json")
    {
        var r = new DiffusersConfigReader(json, source);
        var modelType = r.String("model_type", "clip_text_model");
        if (modelType != "clip_text_model")
            throw r.Refuse("model_type", "expected a CLIP text model config (clip_text_model)");
        var arch = r.StringList("architectures", ["CLIPTextModel"]);
        foreach (var a in arch)
            if (a != "CLIPTextModel")
                throw r.Refuse("architectures", $"'{a}' is not supported (supported: CLIPTextModel)");

        string act = r.OneOf("hidden_act", "quick_gelu", "gelu");
        int hidden = r.Count("hidden_size", 512, 1, ConfigLimits.MaxWidth);
        int heads = r.Count("num_attention_heads", 8, 1, ConfigLimits.MaxWidth);
        if (hidden % heads != 0)
            throw r.Refuse("num_attention_heads", $"hidden_size {hidden} is not divisible into that many heads");

        return new ClipTextConfig
        {
            // At least 2: without a tokenizer the empty prompt is encoded with the last two ids as start and end.
            VocabSize = r.Count("vocab_size", 49408, 2, ConfigLimits.MaxVocab),
            HiddenSize = hidden,
            IntermediateSize = r.Count("intermediate_size", 2048, 1, ConfigLimits.MaxWidth),
            NumHiddenLayers = r.Count("num_hidden_layers", 12, 1, ConfigLimits.MaxTextLayers),
            NumAttentionHeads = heads,
            MaxPositionEmbeddings = r.Count("max_position_embeddings", 77, 2, ConfigLimits.MaxPositions),
            LayerNormEps = r.Float("layer_norm_eps", 1e-5f),
            HiddenAct = act,
        };
    }

    /// <summary>Largest config.json read (SD 2.1's are about 2 KB).</summary>
    public const long MaxConfigBytes = 1 << 20;

    private static string ReadFile(string path)
    {
        try
        {
            // The opened file's length, not FileInfo's (a symbolic link's own size).
            long length;
            using (var handle = File.OpenHandle(path)) length = RandomAccess.GetLength(handle);
            if (length > MaxConfigBytes)
                throw new PisaException($"{path}: config is {length} bytes (at most {MaxConfigBytes}); not a diffusers config.json");
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PisaException($"{path}: cannot read config ({e.Message})", e);
        }
    }

    private static void CheckClass(DiffusersConfigReader r, string expected)
    {
        var cls = r.String("_class_name", expected);
        if (cls != expected) throw r.Refuse("_class_name", $"expected {expected}");
    }

    // get_down_block / get_up_block strip a leading "UNetRes" from block type names.
    private static string StripUNetRes(string t) => t.StartsWith("UNetRes", StringComparison.Ordinal) ? t[7..] : t;
}
