using PiSa.Engine;
using PiSa.Engine.Formats;

namespace PiSa.Tests.Configs;

public class DiffusersConfigTests
{
    private static string Sd21(string model) => Path.Combine(FixturePaths.Sd21, model, "config.json");
    private static string Tiny(string model) => Path.Combine(FixturePaths.Tiny, "sd", model, "config.json");

    [Fact]
    public void Sd21_unet_parses_with_attention_head_dim_as_head_count()
    {
        var c = DiffusersConfig.LoadUNet(Sd21("unet"));
        Assert.Equal(4, c.InChannels);
        Assert.Equal(4, c.OutChannels);
        Assert.Equal(new[] { 320, 640, 1280, 1280 }, c.BlockOutChannels);
        Assert.Equal(new[] { "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D" }, c.DownBlockTypes);
        Assert.Equal(new[] { "UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D" }, c.UpBlockTypes);
        Assert.Equal("UNetMidBlock2DCrossAttn", c.MidBlockType);
        Assert.Equal(new[] { 5, 10, 20, 20 }, c.AttentionHeads);
        Assert.Equal(1024, c.CrossAttentionDim);
        Assert.Equal(2, c.LayersPerBlock);
        Assert.Equal(32, c.NormNumGroups);
        Assert.Equal(1e-5f, c.NormEps);
        Assert.True(c.FlipSinToCos);
        Assert.Equal(0f, c.FreqShift);
        Assert.True(c.UseLinearProjection);
        Assert.Equal(1, c.DownsamplePadding);
        Assert.Equal(1f, c.MidBlockScaleFactor);
        Assert.Equal(1, c.TransformerLayersPerBlock);
        Assert.Equal(3, c.ConvInKernel);
        Assert.Equal(3, c.ConvOutKernel);
        Assert.False(c.UpcastAttention);
        Assert.Equal(1280, c.TimeEmbedDim);
    }

    [Fact]
    public void Sd21_vae_takes_default_scaling_factor()
    {
        var c = DiffusersConfig.LoadVae(Sd21("vae"));
        Assert.Equal(new[] { 128, 256, 512, 512 }, c.BlockOutChannels);
        Assert.Equal(2, c.LayersPerBlock);
        Assert.Equal(4, c.LatentChannels);
        Assert.Equal(32, c.NormNumGroups);
        Assert.Equal(3, c.InChannels);
        Assert.Equal(3, c.OutChannels);
        Assert.Equal(0.18215f, c.ScalingFactor); // omitted in the file
        Assert.True(c.MidBlockAddAttention);
    }

    [Fact]
    public void Sd21_text_encoder_parses()
    {
        var c = DiffusersConfig.LoadClipText(Sd21("text_encoder"));
        Assert.Equal(49408, c.VocabSize);
        Assert.Equal(1024, c.HiddenSize);
        Assert.Equal(4096, c.IntermediateSize);
        Assert.Equal(23, c.NumHiddenLayers);
        Assert.Equal(16, c.NumAttentionHeads);
        Assert.Equal(77, c.MaxPositionEmbeddings);
        Assert.Equal(1e-5f, c.LayerNormEps);
        Assert.Equal("gelu", c.HiddenAct);
    }

    [Fact]
    public void Tiny_configs_parse()
    {
        var u = DiffusersConfig.LoadUNet(Tiny("unet"));
        Assert.Equal(new[] { 16, 32, 32, 32 }, u.BlockOutChannels);
        Assert.Equal(new[] { 2, 4, 4, 4 }, u.AttentionHeads);
        Assert.Equal(16, u.CrossAttentionDim);
        Assert.Equal(8, u.NormNumGroups);
        Assert.Equal(64, u.TimeEmbedDim);
        Assert.True(u.UseLinearProjection);

        var v = DiffusersConfig.LoadVae(Tiny("vae"));
        Assert.Equal(new[] { 32, 32, 32, 64 }, v.BlockOutChannels);
        Assert.Equal(0.18215f, v.ScalingFactor);

        var t = DiffusersConfig.LoadClipText(Tiny("text_encoder"));
        Assert.Equal(16, t.HiddenSize);
        Assert.Equal(64, t.IntermediateSize);
        Assert.Equal(2, t.NumHiddenLayers);
        Assert.Equal(2, t.NumAttentionHeads);
        Assert.Equal("gelu", t.HiddenAct);
    }

    [Fact]
    public void Empty_configs_take_library_defaults_not_sd21_values()
    {
        var u = DiffusersConfig.ParseUNet("{}");
        Assert.Equal(new[] { 8, 8, 8, 8 }, u.AttentionHeads);   // attention_head_dim = 8
        Assert.Equal(1280, u.CrossAttentionDim);
        Assert.False(u.UseLinearProjection);
        Assert.Equal(new[] { 320, 640, 1280, 1280 }, u.BlockOutChannels);
        Assert.Equal(2, u.LayersPerBlock);

        var v = DiffusersConfig.ParseVae("{}");
        Assert.Equal(new[] { 64 }, v.BlockOutChannels);
        Assert.Equal(1, v.LayersPerBlock);
        Assert.Equal(new[] { "DownEncoderBlock2D" }, v.DownBlockTypes);
        Assert.Equal(0.18215f, v.ScalingFactor);

        var t = DiffusersConfig.ParseClipText("{}");
        Assert.Equal(512, t.HiddenSize);
        Assert.Equal(2048, t.IntermediateSize);
        Assert.Equal(12, t.NumHiddenLayers);
        Assert.Equal(8, t.NumAttentionHeads);
        Assert.Equal("quick_gelu", t.HiddenAct);
    }

    [Fact]
    public void Int_attention_head_dim_applies_to_every_block_and_explicit_values_are_kept()
    {
        var u = DiffusersConfig.ParseUNet("""
            { "attention_head_dim": 4, "block_out_channels": [32, 64], "norm_num_groups": 8,
              "down_block_types": ["CrossAttnDownBlock2D", "UNetResDownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
              "cross_attention_dim": [24, 24], "layers_per_block": [1, 1], "use_linear_projection": false, "upcast_attention": true,
              "num_attention_heads": null, "class_embed_type": null, "freq_shift": 1, "flip_sin_to_cos": false, "norm_eps": 1e-6,
              "scaling_factor": 9, "some_future_key": {"x": 1} }
            """);
        Assert.Equal(new[] { 4, 4 }, u.AttentionHeads);
        Assert.Equal(new[] { "CrossAttnDownBlock2D", "DownBlock2D" }, u.DownBlockTypes);
        Assert.Equal(24, u.CrossAttentionDim);
        Assert.Equal(1, u.LayersPerBlock);
        Assert.False(u.UseLinearProjection);
        Assert.True(u.UpcastAttention);
        Assert.Equal(1f, u.FreqShift);
        Assert.False(u.FlipSinToCos);
        Assert.Equal(1e-6f, u.NormEps);
        Assert.Equal(128, u.TimeEmbedDim);

        var v = DiffusersConfig.ParseVae("""{ "scaling_factor": 0.13025, "mid_block_add_attention": false }""");
        Assert.Equal(0.13025f, v.ScalingFactor);
        Assert.False(v.MidBlockAddAttention);
    }

    [Theory]
    [InlineData("""{ "num_attention_heads": [5, 10, 20, 20] }""", "num_attention_heads", "[5, 10, 20, 20]")]
    [InlineData("""{ "addition_embed_type": "text_time" }""", "addition_embed_type", "\"text_time\"")]
    [InlineData("""{ "class_embed_type": "timestep" }""", "class_embed_type", "\"timestep\"")]
    [InlineData("""{ "num_class_embeds": 10 }""", "num_class_embeds", "10")]
    [InlineData("""{ "time_cond_proj_dim": 256 }""", "time_cond_proj_dim", "256")]
    [InlineData("""{ "resnet_time_scale_shift": "scale_shift" }""", "resnet_time_scale_shift", "\"scale_shift\"")]
    [InlineData("""{ "cross_attention_norm": "group_norm" }""", "cross_attention_norm", "\"group_norm\"")]
    [InlineData("""{ "dual_cross_attention": true }""", "dual_cross_attention", "true")]
    [InlineData("""{ "only_cross_attention": [false, true, false, false] }""", "only_cross_attention", "[false, true, false, false]")]
    [InlineData("""{ "act_fn": "gelu" }""", "act_fn", "\"gelu\"")]
    [InlineData("""{ "transformer_layers_per_block": [1, 2, 10, 10] }""", "transformer_layers_per_block", "[1, 2, 10, 10]")]
    [InlineData("""{ "mid_block_type": "UNetMidBlock2DSimpleCrossAttn" }""", "mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\"")]
    [InlineData("""{ "mid_block_type": null }""", "mid_block_type", "null")]
    [InlineData("""{ "down_block_types": ["AttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"] }""", "down_block_types", "AttnDownBlock2D")]
    [InlineData("""{ "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"] }""", "up_block_types", "[\"UpBlock2D\", \"CrossAttnUpBlock2D\"]")]
    [InlineData("""{ "attention_head_dim": [5, 10, 20] }""", "attention_head_dim", "[5, 10, 20]")]
    [InlineData("""{ "attention_head_dim": 3 }""", "attention_head_dim", "3")]
    [InlineData("""{ "time_embedding_type": "fourier" }""", "time_embedding_type", "\"fourier\"")]
    [InlineData("""{ "encoder_hid_dim": 768 }""", "encoder_hid_dim", "768")]
    [InlineData("""{ "attention_type": "gated" }""", "attention_type", "\"gated\"")]
    [InlineData("""{ "class_embeddings_concat": true }""", "class_embeddings_concat", "true")]
    [InlineData("""{ "_class_name": "UNet2DModel" }""", "_class_name", "\"UNet2DModel\"")]
    [InlineData("""{ "in_channels": "four" }""", "in_channels", "\"four\"")]
    public void Unsupported_unet_options_are_refused_naming_file_field_and_value(string json, string field, string value)
    {
        var e = Assert.Throws<PisaException>(() => DiffusersConfig.ParseUNet(json, "/models/x/unet/config.json"));
        Assert.StartsWith("/models/x/unet/config.json: ", e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(value, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("""{ "down_block_types": ["AttnDownEncoderBlock2D"] }""", "down_block_types")]
    [InlineData("""{ "act_fn": "relu" }""", "act_fn")]
    [InlineData("""{ "block_out_channels": [64, 128], "up_block_types": ["UpDecoderBlock2D"] }""", "down_block_types")]
    [InlineData("""{ "shift_factor": 0.0609 }""", "shift_factor")]
    [InlineData("""{ "norm_num_groups": 48 }""", "norm_num_groups")]
    public void Unsupported_vae_options_are_refused(string json, string field)
    {
        var e = Assert.Throws<PisaException>(() => DiffusersConfig.ParseVae(json, "vae/config.json"));
        Assert.StartsWith("vae/config.json: ", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [InlineData("""{ "hidden_act": "relu" }""", "hidden_act")]
    [InlineData("""{ "model_type": "clip" }""", "model_type")]
    [InlineData("""{ "architectures": ["CLIPTextModelWithProjection"] }""", "architectures")]
    [InlineData("""{ "hidden_size": 100, "num_attention_heads": 16 }""", "num_attention_heads")]
    public void Unsupported_clip_options_are_refused(string json, string field)
    {
        var e = Assert.Throws<PisaException>(() => DiffusersConfig.ParseClipText(json, "text_encoder/config.json"));
        Assert.StartsWith("text_encoder/config.json: ", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Quick_gelu_is_accepted()
    {
        Assert.Equal("quick_gelu", DiffusersConfig.ParseClipText("""{ "hidden_act": "quick_gelu" }""").HiddenAct);
    }

    [Fact]
    public void Missing_file_and_bad_json_are_one_line_errors_naming_the_file()
    {
        var missing = Path.Combine(Path.GetTempPath(), "pisa-no-such-dir", "config.json");
        var e = Assert.Throws<PisaException>(() => DiffusersConfig.LoadUNet(missing));
        Assert.Contains(missing, e.Message);
        var e2 = Assert.Throws<PisaException>(() => DiffusersConfig.ParseVae("{ \"in_channels\": ", "broken.json"));
        Assert.StartsWith("broken.json: ", e2.Message);
        Assert.DoesNotContain('\n', e2.Message);
        var e3 = Assert.Throws<PisaException>(() => DiffusersConfig.ParseVae("[1]", "array.json"));
        Assert.StartsWith("array.json: ", e3.Message);
    }
}
