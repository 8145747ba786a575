using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Lora;

/// <summary>
/// Merges LoRA deltas into base weights. PiSA-SR's weight sets:
/// <list type="bullet">
/// <item>W_pix = W_sd + dW_pix (<see cref="PixWeights"/>)</item>
/// <item>W_pisa = W_pix + dW_sem (<see cref="PisaWeights"/>, the default mode)</item>
/// <item>fused adjustable W = W_sd + lambda_pix dW_pix + lambda_sem dW_sem (<see cref="FusedWeights"/>, approximate
/// except at (1, 1), where it is exactly W_pisa)</item>
/// </list>
/// </summary>
public static class LoraMerger
{
    public static LoraMergedWeightSource PixWeights(IWeightSource unet, PisaCheckpoint ckpt) => new(unet, ckpt, 1, 0);
    public static LoraMergedWeightSource PisaWeights(IWeightSource unet, PisaCheckpoint ckpt) => new(unet, ckpt, 1, 1);
    public static LoraMergedWeightSource FusedWeights(IWeightSource unet, PisaCheckpoint ckpt, float lambdaPix, float lambdaSem) =>
        new(unet, ckpt, lambdaPix, lambdaSem);

    /// <summary>
    /// base + sum of coefficient * delta, applied in the given order (pixel adapters before semantic ones, so
    /// at coefficients 1 the result is bit-identical to ((W_sd + dW_pix) + dW_sem)). Returns a new tensor.
    /// </summary>
    public static HostTensor Merge(HostTensor baseWeight, IEnumerable<(LoraAdapter Adapter, float Coefficient)> deltas)
    {
        var w = baseWeight.Clone();
        foreach (var (adapter, coef) in deltas)
        {
            adapter.CheckShapes(baseWeight.Shape);
            float[] d = adapter.ComputeDelta();
            float[] data = w.Data;
            if (coef == 1f)
                for (int i = 0; i < data.Length; i++) data[i] += d[i];
            else
                for (int i = 0; i < data.Length; i++) data[i] += coef * d[i];
        }
        return w;
    }
}
