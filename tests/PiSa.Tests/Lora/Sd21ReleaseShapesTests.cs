using System.Text.Json;
using PiSa.Engine.Lora;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Lora;

/// <summary>
/// The release checkpoint against the real SD2.1-base UNet, by shapes only (no weights in the repo):
/// every LoRA tensor name follows the module-list/adapter convention and every adapter fits its weight.
/// </summary>
public class Sd21ReleaseShapesTests
{
    [Fact]
    public void ReleaseLoraTensorsFitTheSd21Unet()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(FixturePaths.Sd21, "tensor_shapes.json")));
        var root = doc.RootElement;
        int[] Shape(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var unet = root.GetProperty("unet").EnumerateObject().ToDictionary(p => p.Name, p => Shape(p.Value));
        var lora = root.GetProperty("pisa_lora_state_dict_unet").EnumerateObject().ToDictionary(p => p.Name, p => Shape(p.Value));
        var lists = root.GetProperty("pisa_lora_modules");

        var used = new HashSet<string>();
        foreach (var kind in LoraModuleLists.Kinds)
        {
            foreach (var group in LoraModuleLists.Groups)
            {
                foreach (var m in lists.GetProperty(group.ToString().ToLowerInvariant()).EnumerateArray().Select(x => x.GetString()!))
                {
                    string a = LoraAdapter.TensorNameA(m, group, kind), b = LoraAdapter.TensorNameB(m, group, kind);
                    Assert.True(lora.ContainsKey(a) && lora.ContainsKey(b), $"release has no {a} / {b}");
                    used.Add(a);
                    used.Add(b);
                    var adapter = new LoraAdapter(m, kind, group, new HostTensor(lora[a]), new HostTensor(lora[b]), 2f);
                    Assert.True(unet.ContainsKey(adapter.WeightName), adapter.WeightName);
                    adapter.CheckShapes(unet[adapter.WeightName]); // throws on a mismatch
                }
            }
        }
        Assert.Equal(lora.Count, used.Count);
    }
}
