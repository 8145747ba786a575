using System.Text.Json;
using PiSa.Engine.Formats;
using PiSa.Engine.Lora;
using PiSa.Engine.Models.Descriptions;

namespace PiSa.Tests.Shapes;

/// <summary>
/// Descriptions built from the real SD2.1-base configs must name exactly the tensors (and shapes) that
/// diffusers/transformers create, as recorded in tensor_shapes.json, and the LoRA rule must give exactly
/// the release checkpoint's tensors and module lists.
/// </summary>
public class Sd21ShapeConformanceTests
{
    private static readonly JsonElement Shapes = LoadShapes();

    private static JsonElement LoadShapes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixturePaths.Sd21, "tensor_shapes.json")));
        return doc.RootElement.Clone();
    }

    private static string Cfg(string model) => Path.Combine(FixturePaths.Sd21, model, "config.json");

    [Fact]
    public void UNet_matches_diffusers_names_shapes_and_order()
    {
        var expected = ShapeAssert.FromJsonObject(Shapes.GetProperty("unet"));
        var described = UNetDescription.Build(DiffusersConfig.LoadUNet(Cfg("unet")));
        ShapeAssert.SameNamesAndShapes(expected, described, "unet");
        Assert.Equal(expected.Select(e => e.Name), described.Select(d => d.Name));
        Assert.DoesNotContain(described, d => d.IsBuffer);
    }

    [Fact]
    public void Vae_matches_diffusers_names_shapes_and_order()
    {
        var expected = ShapeAssert.FromJsonObject(Shapes.GetProperty("vae"));
        var described = VaeDescription.Build(DiffusersConfig.LoadVae(Cfg("vae")));
        ShapeAssert.SameNamesAndShapes(expected, described, "vae");
        Assert.Equal(expected.Select(e => e.Name), described.Select(d => d.Name));
    }

    [Fact]
    public void ClipText_matches_transformers_names_shapes_and_order()
    {
        var expected = ShapeAssert.FromJsonObject(Shapes.GetProperty("text_encoder"));
        var described = ClipTextDescription.Build(DiffusersConfig.LoadClipText(Cfg("text_encoder")));
        ShapeAssert.SameNamesAndShapes(expected, described, "text_encoder");
        Assert.Equal(expected.Select(e => e.Name), described.Select(d => d.Name));
        var buffers = described.Where(d => d.IsBuffer).ToList();
        Assert.Single(buffers);
        Assert.Equal("text_model.embeddings.position_ids", buffers[0].Name);
        Assert.Equal(new[] { 1, 77 }, buffers[0].Shape);
    }

    [Fact]
    public void Lora_state_dict_matches_release_checkpoint()
    {
        var expected = ShapeAssert.FromJsonObject(Shapes.GetProperty("pisa_lora_state_dict_unet"));
        var described = LoraTargets.StateDict(DiffusersConfig.LoadUNet(Cfg("unet")), rankPix: 4, rankSem: 4);
        ShapeAssert.SameNamesAndShapes(expected, described, "pisa_lora_state_dict_unet");
        Assert.Equal(expected.Select(e => e.Name), described.Select(d => d.Name));
    }

    [Theory]
    [InlineData("encoder", LoraGroup.Encoder)]
    [InlineData("decoder", LoraGroup.Decoder)]
    [InlineData("others", LoraGroup.Others)]
    public void Lora_module_lists_match_release_checkpoint(string key, LoraGroup group)
    {
        var expected = Shapes.GetProperty("pisa_lora_modules").GetProperty(key).EnumerateArray().Select(e => e.GetString()!).ToList();
        var described = LoraTargets.ModuleNames(DiffusersConfig.LoadUNet(Cfg("unet")), group);
        Assert.Equal(expected, described);
    }

    [Fact]
    public void Lora_targets_skip_time_embedding_and_norms_but_take_samplers()
    {
        var mods = LoraTargets.Build(DiffusersConfig.LoadUNet(Cfg("unet")), 4);
        Assert.DoesNotContain(mods, m => m.Module.Contains("time_emb") || m.Module.Contains("norm"));
        Assert.Contains(mods, m => m.Module == "down_blocks.0.downsamplers.0.conv" && m.Group == LoraGroup.Encoder);
        Assert.Contains(mods, m => m.Module == "up_blocks.2.upsamplers.0.conv" && m.Group == LoraGroup.Decoder);
        var convIn = mods.Single(m => m.Module == "conv_in");
        Assert.Equal(new[] { 4, 4, 3, 3 }, convIn.AShape);
        Assert.Equal(new[] { 320, 4, 1, 1 }, convIn.BShape);
        var toK = mods.Single(m => m.Module == "mid_block.attentions.0.transformer_blocks.0.attn2.to_k");
        Assert.Equal(LoraGroup.Others, toK.Group);
        Assert.Equal(new[] { 4, 1024 }, toK.AShape);
        Assert.Equal(new[] { 1280, 4 }, toK.BShape);
    }
}
