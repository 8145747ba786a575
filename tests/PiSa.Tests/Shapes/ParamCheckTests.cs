using PiSa.Engine;
using PiSa.Engine.Formats;
using PiSa.Engine.Models.Descriptions;

namespace PiSa.Tests.Shapes;

public class ParamCheckTests
{
    private static IReadOnlyList<ParamSpec> TinyClip() =>
        ClipTextDescription.Build(DiffusersConfig.LoadClipText(Path.Combine(FixturePaths.Tiny, "sd", "text_encoder", "config.json")));

    private static Dictionary<string, int[]> Stored(IEnumerable<ParamSpec> specs) => specs.ToDictionary(p => p.Name, p => p.Shape);

    [Fact]
    public void Complete_set_passes_and_buffer_may_be_absent_and_extras_are_reported()
    {
        var specs = TinyClip();
        Assert.Empty(ParamCheck.Verify(specs, Stored(specs), "te.safetensors"));
        var noBuffer = Stored(specs.Where(p => !p.IsBuffer));
        noBuffer["text_projection.weight"] = [16, 16];
        Assert.Equal(new[] { "text_projection.weight" }, ParamCheck.Verify(specs, noBuffer, "te.safetensors"));
    }

    [Fact]
    public void Missing_tensor_and_wrong_shape_are_named()
    {
        var specs = TinyClip();
        var stored = Stored(specs);
        stored.Remove("text_model.encoder.layers.1.mlp.fc2.weight");
        stored.Remove("text_model.final_layer_norm.bias");
        var e = Assert.Throws<PisaException>(() => ParamCheck.Verify(specs, stored, "te.safetensors"));
        Assert.Equal("te.safetensors: missing tensor 'text_model.encoder.layers.1.mlp.fc2.weight' [16,64] (and 1 more)", e.Message);

        stored = Stored(specs);
        stored["text_model.embeddings.position_ids"] = [1, 76];
        e = Assert.Throws<PisaException>(() => ParamCheck.Verify(specs, stored, "te.safetensors"));
        Assert.Contains("'text_model.embeddings.position_ids' has shape [1,76] but the config needs [1,77]", e.Message);
    }
}
