using System.Text.Json;
using PiSa.Engine.Formats;
using PiSa.Engine.Lora;
using PiSa.Engine.Models.Descriptions;

namespace PiSa.Tests.Shapes;

/// <summary>
/// The tiny fixture model (other widths, heads and groups than SD2.1): descriptions built from its
/// configs must equal the tensors actually stored in its safetensors files, and the LoRA rule must give
/// the fixture checkpoint's tensors and module lists.
/// </summary>
public class TinyModelShapeTests
{
    private static string Sd(params string[] parts) => Path.Combine([FixturePaths.Tiny, "sd", .. parts]);

    private static IEnumerable<(string, int[])> Stored(string file) => FixtureSafetensors.Shapes(file);

    [Fact]
    public void UNet_description_equals_stored_tensors()
    {
        var described = UNetDescription.Build(DiffusersConfig.LoadUNet(Sd("unet", "config.json")));
        ShapeAssert.SameNamesAndShapes(Stored(Sd("unet", "diffusion_pytorch_model.safetensors")), described, "tiny unet");
    }

    [Fact]
    public void Vae_description_equals_stored_tensors()
    {
        var described = VaeDescription.Build(DiffusersConfig.LoadVae(Sd("vae", "config.json")));
        ShapeAssert.SameNamesAndShapes(Stored(Sd("vae", "diffusion_pytorch_model.safetensors")), described, "tiny vae");
    }

    [Fact]
    public void ClipText_description_equals_stored_tensors_buffer_optional()
    {
        var described = ClipTextDescription.Build(DiffusersConfig.LoadClipText(Sd("text_encoder", "config.json")));
        var stored = Stored(Sd("text_encoder", "model.safetensors")).ToList();
        // The buffer may be absent from a weight file; when present it must have the described shape.
        var required = described.Where(d => !d.IsBuffer || stored.Any(s => s.Item1 == d.Name));
        ShapeAssert.SameNamesAndShapes(stored, required, "tiny text_encoder");
    }

    [Fact]
    public void Lora_state_dict_and_module_lists_equal_fixture_checkpoint()
    {
        using var st = SafetensorsFile.Open(Path.Combine(FixturePaths.Tiny, "pisa_sr.safetensors"));
        var config = DiffusersConfig.LoadUNet(Sd("unet", "config.json"));
        int rankPix = int.Parse(st.Metadata["lora_rank_unet_pix"]), rankSem = int.Parse(st.Metadata["lora_rank_unet_sem"]);
        ShapeAssert.SameNamesAndShapes(st.Entries.Select(e => (e.Name, e.Shape)), LoraTargets.StateDict(config, rankPix, rankSem), "tiny lora");
        foreach (var (key, group) in new[] { ("encoder", LoraGroup.Encoder), ("decoder", LoraGroup.Decoder), ("others", LoraGroup.Others) })
            foreach (var kind in new[] { "pix", "sem" })
            {
                var listed = JsonSerializer.Deserialize(st.Metadata[$"unet_lora_{key}_modules_{kind}"], TestJson.Default.ListString)!;
                Assert.Equal(listed, LoraTargets.ModuleNames(config, group));
            }
    }
}
