namespace PiSa.Engine.Pipeline;

/// <summary>The GPU memory one image is planned to take on the CUDA backend, by part (bytes).</summary>
public sealed record DeviceMemoryEstimate(long RuntimeBytes, long WeightBytes, long ActivationBytes, int ModelWidth, int ModelHeight)
{
    public long Total => RuntimeBytes + WeightBytes + ActivationBytes;

    public string Describe() =>
        $"{MemorySize.Format(Total)} of GPU memory ({MemorySize.Format(WeightBytes)} weights, {MemorySize.Format(ActivationBytes)} activations, " +
        $"{MemorySize.Format(RuntimeBytes)} context and workspaces) at {ModelWidth}x{ModelHeight}";
}

/// <summary>
/// An upper bound of the CUDA backend's device memory for one image, from the configs and options alone (issue 9
/// item 9: 512x512 default under 4 GB, 2048x2048 tiled under 12 GB). Weights: fp16 copies of every UNet set the mode
/// keeps (plus each set's fused QKV/KV projections), the VAE and the text encoder (counted throughout: an upper bound),
/// with 5 % for packing pads and fp32 vectors. Activations: fp16 over the same lifetime model as the CPU estimate
/// (<see cref="MemoryEstimator"/>; its host-only parts, such as the decoded image pasted from VAE tiles, are counted too),
/// the three stages' peaks added since the device pool keeps freed blocks for reuse. Not yet compared with a measured
/// GPU peak (no GPU run so far); `pisa bench` reports the measured one (the pool's high-water mark).
/// </summary>
public static class DeviceMemoryEstimator
{
    /// <summary>CUDA context, loaded modules and the cuBLASLt workspace (typically 300 to 500 MB on recent GPUs).</summary>
    public const long RuntimeBytes = 640L << 20;

    private const double WeightSlack = 1.05;

    public static DeviceMemoryEstimate ForModelInput(ModelFootprint f, int mw, int mh, UpscaleOptions o)
    {
        long merged = o.Mode switch
        {
            LoraMode.Default => f.PisaMergedParams,
            LoraMode.Adjustable => f.PisaMergedParams + f.PixMergedParams,
            _ => 2 * f.PisaMergedParams + f.PixMergedParams,
        };
        int sets = o.Mode switch { LoraMode.Default => 1, LoraMode.Adjustable => 2, _ => 3 };
        long unet = f.UNetParams - f.PisaMergedParams + merged + sets * f.FusedProjectionParams;
        long weights = (long)(2 * (unet + f.VaeParams + f.TextParams) * WeightSlack);
        double floats = MemoryEstimator.EncoderPeak(f.Vae, mw, mh, o.VaeEncoderTile)
                      + MemoryEstimator.UNetStagePeak(f.UNet, mw / 8, mh / 8, o)
                      + MemoryEstimator.DecoderPeak(f.Vae, mw / 8, mh / 8, o.VaeDecoderTile);
        long act = (long)(2 * floats * MemoryEstimator.ActivationMargin);
        return new DeviceMemoryEstimate(RuntimeBytes, weights, act, mw, mh);
    }
}
