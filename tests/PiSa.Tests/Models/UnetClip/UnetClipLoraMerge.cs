using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>
/// Test-only: the PiSA default weight set W_sd + sum over all six adapters of (alpha/r) * B @ A (SPEC section 2),
/// so the full UNet can be checked against the cases' unet_pred (the modules fixture's unet.out is NaN).
/// </summary>
public static class UnetClipLoraMerge
{
    public static IWeightSource DefaultPisaWeights()
    {
        var baseW = UnetClipFixtures.Load(Path.Combine(UnetClipFixtures.UnetDir, "diffusion_pytorch_model.safetensors"));
        var lora = UnetClipFixtures.Load(Path.Combine(FixturePaths.Tiny, "pisa_sr.safetensors"));
        var merged = baseW.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        const float alpha = 8f; // peft default lora_alpha used by PiSA-SR (also in the file's metadata)
        foreach (var (name, a) in lora)
        {
            int at = name.IndexOf(".lora_A.", StringComparison.Ordinal);
            if (at < 0) continue;
            string module = name[..at];
            var b = lora[name.Replace(".lora_A.", ".lora_B.")];
            var w = merged[module + ".weight"];
            int r = a.Dim(0), outF = b.Dim(0);
            int inner = (int)(a.Count / r);
            float scaling = alpha / r;
            for (int o = 0; o < outF; o++)
                for (int i = 0; i < inner; i++)
                {
                    double s = 0;
                    for (int k = 0; k < r; k++) s += (double)b.Data[o * r + k] * a.Data[k * inner + i];
                    w.Data[(long)o * inner + i] += (float)(scaling * s);
                }
        }
        return new DictionaryWeightSource(merged, "tiny unet + PiSA LoRA (default)");
    }
}
