using PiSa.Engine.Backends;

namespace PiSa.Engine.Pipeline;

/// <summary>A pipeline stage produced NaN or infinity: the run stops there and no image is made from it.</summary>
public sealed class NonFiniteResultException(string stage, string message) : PisaException(message)
{
    /// <summary>"text encoder", "vae encode", "unet" or "vae decode".</summary>
    public string Stage { get; } = stage;
}

/// <summary>
/// The per-stage guard. One inf (fp16 storage overflows above 65504; float32 above about 3.4e38, e.g. at absurd
/// LoRA scales) becomes NaN at the next GroupNorm and NaN everywhere after it, and the final clamp and 8-bit
/// conversion would turn that into a flat grey image that looks like a result. So every stage's output is
/// counted on the backend (<see cref="IOps.CountNonFinite"/>, a reduction that returns one number) and a
/// non-finite one is an error naming the stage.
/// </summary>
public static class NonFiniteCheck
{
    public static void Require(IOps ops, DeviceTensor t, string stage, UpscaleOptions o)
    {
        long bad = ops.CountNonFinite(t);
        if (bad == 0) return;
        string cause = ops.Name == "cpu"
            ? "float32 overflow"
            : $"overflow of the {ops.Name} backend's fp16 storage (above 65504); the cpu backend computes in float32";
        string scales = o.Mode == LoraMode.Default ? "" : $"; lambda_pix {o.LambdaPix:G4}, lambda_sem {o.LambdaSem:G4} may be too large";
        throw new NonFiniteResultException(stage,
            $"the {stage} stage produced {bad} non-finite value(s) (NaN or infinity) of {t.Count} on the {ops.Name} backend: {cause}{scales}");
    }

    /// <summary><see cref="Require"/>, disposing <paramref name="t"/> when it fails (the caller never gets it).</summary>
    public static DeviceTensor Checked(IOps ops, DeviceTensor t, string stage, UpscaleOptions o)
    {
        try { Require(ops, t, stage, o); return t; }
        catch { t.Dispose(); throw; }
    }
}
