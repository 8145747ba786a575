using PiSa.Engine.Formats;
using PiSa.Engine.Lora;
using PiSa.Engine.Models.Descriptions;

namespace PiSa.Tests.Shapes;

/// <summary>Config options the fixtures do not exercise: conv projections, deeper transformers, no VAE mid attention.</summary>
public class DescriptionVariantTests
{
    private const string SmallUNet = """
        { "block_out_channels": [32, 64], "norm_num_groups": 8, "attention_head_dim": [2, 4], "cross_attention_dim": 24,
          "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
          "layers_per_block": 1, "use_linear_projection": false, "transformer_layers_per_block": 2, "in_channels": 5, "out_channels": 3 }
        """;

    [Fact]
    public void Conv_projections_and_two_transformer_layers()
    {
        var specs = UNetDescription.Build(DiffusersConfig.ParseUNet(SmallUNet)).ToDictionary(p => p.Name, p => p.Shape);
        Assert.Equal(new[] { 32, 32, 1, 1 }, specs["down_blocks.0.attentions.0.proj_in.weight"]);
        Assert.Equal(new[] { 32, 32, 1, 1 }, specs["down_blocks.0.attentions.0.proj_out.weight"]);
        Assert.Equal(new[] { 32, 24 }, specs["down_blocks.0.attentions.0.transformer_blocks.1.attn2.to_k.weight"]);
        Assert.False(specs.ContainsKey("down_blocks.0.attentions.0.transformer_blocks.2.norm1.weight"));
        Assert.Equal(new[] { 64, 64, 1, 1 }, specs["mid_block.attentions.0.proj_in.weight"]);
        Assert.Equal(new[] { 32, 5, 3, 3 }, specs["conv_in.weight"]);
        Assert.Equal(new[] { 3, 32, 3, 3 }, specs["conv_out.weight"]);
        Assert.Equal(new[] { 128, 32 }, specs["time_embedding.linear_1.weight"]);
        // Up block 1 (32 channels): resnet 0 takes 64 (previous) + 32 (skip), resnet 1 takes 32 + 32 (conv_in skip).
        Assert.Equal(new[] { 32, 96, 3, 3 }, specs["up_blocks.1.resnets.0.conv1.weight"]);
        Assert.Equal(new[] { 32, 64, 3, 3 }, specs["up_blocks.1.resnets.1.conv1.weight"]);
        Assert.False(specs.ContainsKey("up_blocks.1.resnets.2.conv1.weight"));
        Assert.False(specs.ContainsKey("down_blocks.1.downsamplers.0.conv.weight"));
        Assert.False(specs.ContainsKey("up_blocks.1.upsamplers.0.conv.weight"));
        Assert.True(specs.ContainsKey("up_blocks.0.upsamplers.0.conv.weight"));
    }

    [Fact]
    public void Lora_on_conv_projection_uses_1x1_conv_shapes()
    {
        var mods = LoraTargets.Build(DiffusersConfig.ParseUNet(SmallUNet), 3);
        var projIn = mods.Single(m => m.Module == "up_blocks.1.attentions.0.proj_in");
        Assert.Equal(LoraGroup.Decoder, projIn.Group);
        Assert.Equal(new[] { 3, 32, 1, 1 }, projIn.AShape);
        Assert.Equal(new[] { 32, 3, 1, 1 }, projIn.BShape);
        Assert.Contains(mods, m => m.Module == "down_blocks.0.attentions.0.transformer_blocks.1.ff.net.2" && m.Group == LoraGroup.Encoder);
        Assert.Equal("down_blocks.0.attentions.0.proj_in.lora_B.default_encoder_sem.weight",
            mods.First(m => m.Module == "down_blocks.0.attentions.0.proj_in").BName(LoraKind.Sem));
    }

    [Fact]
    public void Vae_without_mid_attention_has_no_attention_tensors()
    {
        var specs = VaeDescription.Build(DiffusersConfig.ParseVae("""{ "block_out_channels": [32, 64], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"], "mid_block_add_attention": false }"""));
        Assert.DoesNotContain(specs, p => p.Name.Contains("attentions"));
        Assert.Contains(specs, p => p.Name == "decoder.up_blocks.1.resnets.1.conv2.weight");  // layers_per_block 1 -> 2 decoder resnets
        Assert.DoesNotContain(specs, p => p.Name == "decoder.up_blocks.1.resnets.2.conv2.weight");
    }
}
