using PiSa.Cuda;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Descriptions;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Pipeline;

/// <summary>The GPU memory one image is planned to take on the CUDA backend (bytes): the worse of the text phase
/// (encoding a prompt not seen before) and the image phase (VAE encode, UNet, VAE decode).</summary>
public sealed record DeviceMemoryEstimate(long RuntimeBytes, long WeightBytes, long ActivationBytes, int ModelWidth, int ModelHeight,
    long TextPhaseBytes = 0, long ImagePhaseBytes = 0)
{
    public long Total => RuntimeBytes + WeightBytes + ActivationBytes;

    public string Describe() =>
        $"{MemorySize.Format(Total)} of GPU memory ({MemorySize.Format(WeightBytes)} weights, {MemorySize.Format(ActivationBytes)} activations, " +
        $"{MemorySize.Format(RuntimeBytes)} context and workspaces; text phase {MemorySize.Format(TextPhaseBytes)}, image phase " +
        $"{MemorySize.Format(ImagePhaseBytes)} without the context) at {ModelWidth}x{ModelHeight}";
}

/// <summary>
/// An upper bound of the CUDA backend's device memory for one image, from the configs and options alone (issue 9
/// item 9: 512x512 default under 4 GB, 2048x2048 tiled under 12 GB), following what CudaOps and the pipeline hold when:
/// - Weights as the device pool holds them: packed fp16 rows padded to the kernels' K, fp32 and fp16 copies of every
///   vector, each rounded up to the pool's size class (<see cref="DevicePool.SizeClass"/>), for every UNet set the mode
///   keeps (each with its fused QKV/KV projections and the prompt's cached cross-attention K/V) and the VAE.
/// - The text encoder's weights only while a prompt is encoded (PisaModel releases them at once); a prompt not seen
///   before may come after the UNet and VAE are uploaded, so that phase counts all weights and the encoder's activations.
/// - Activations: the fp16 lifetime model of the CPU estimate (<see cref="MemoryEstimator"/>), the largest stage only:
///   CudaOps gives the pool's cache back at every stage's end (IOps.EndStage), unless KeepPoolBetweenStages, when the
///   stages add up. The tiled VAE parks waiting tiles on the host (<see cref="UpscaleOptions.ParkVaeTiles"/>), so one
///   tile's working set counts, plus every tile's input crop and finished output.
/// Checked against the interpreter's pool-exact peak on the tiny model (DeviceMemoryOnInterpreterTests); not yet against a
/// GPU (no GPU run so far). `pisa bench` reports the measured peak.
/// </summary>
public static class DeviceMemoryEstimator
{
    /// <summary>CUDA context, loaded modules and the cuBLASLt workspace (typically 300 to 500 MB on recent GPUs).</summary>
    public const long RuntimeBytes = 640L << 20;

    public static DeviceMemoryEstimate ForModelInput(ModelFootprint f, int mw, int mh, UpscaleOptions o, bool stagesAddUp = false)
    {
        var unetSpecs = UNetDescription.Build(f.UNet).Where(p => !p.IsBuffer).ToList();
        long unetBase = Bytes(unetSpecs);
        // Extra merged sets (their tensors have the base's shapes): at the base's bytes per parameter.
        double perParam = (double)unetBase / Math.Max(1, f.UNetParams);
        long extraMerged = o.Mode switch
        {
            LoraMode.Default => 0,
            LoraMode.Adjustable => f.PixMergedParams,
            _ => f.PisaMergedParams + f.PixMergedParams,   // the fused set plus the exact pair for the distance notice
        };
        int sets = o.Mode switch { LoraMode.Default => 1, LoraMode.Adjustable => 2, _ => 3 };
        long crossKv = sets * CrossAttentionKvBytes(unetSpecs, f.Text.MaxPositionEmbeddings);
        // Each set also makes its own vectors (the time embedding at t = 1 folded into the resnets' biases): at most
        // all of the UNet's vectors again.
        long folded = sets * Bytes(unetSpecs.Where(p => p.Shape.Length == 1));
        long unet = unetBase + (long)(perParam * (extraMerged + sets * f.FusedProjectionParams)) + crossKv + folded;
        var vaeSpecs = VaeDescription.Build(f.Vae).Where(p => !p.IsBuffer).ToList();
        long vae = Bytes(vaeSpecs) + Bytes(vaeSpecs.Where(p => IsAttentionProjection(p.Name)));   // + its fused QKV
        // The token and position embeddings are gathered on the host (ClipTextModel.Embed); attention uses fused QKV.
        var textSpecs = ClipTextDescription.Build(f.Text).Where(p => !p.IsBuffer && !p.Name.Contains(".embeddings.", StringComparison.Ordinal)).ToList();
        long text = Bytes(textSpecs) + Bytes(textSpecs.Where(p => IsAttentionProjection(p.Name)));

        long textAct = Fp16(TextEncoderPeak(f.Text));
        double enc = MemoryEstimator.EncoderPeak(f.Vae, mw, mh, o.VaeEncoderTile, o.ParkVaeTiles);
        double un = MemoryEstimator.UNetStagePeak(f.UNet, mw / 8, mh / 8, o);
        double dec = MemoryEstimator.DecoderPeak(f.Vae, mw / 8, mh / 8, o.VaeDecoderTile, o.ParkVaeTiles);
        // Kept between stages: the prompt embedding, the latents passed on (z_L, eps, z_H).
        double carried = f.Text.MaxPositionEmbeddings * (double)f.Text.HiddenSize + 3.0 * f.UNet.InChannels * (mw / 8) * (mh / 8);
        long imageAct = Fp16(carried + (stagesAddUp ? enc + un + dec : Math.Max(enc, Math.Max(un, dec))));

        long textPhase = unet + vae + text + textAct;
        long imagePhase = unet + vae + imageAct;
        return textPhase > imagePhase
            ? new DeviceMemoryEstimate(RuntimeBytes, unet + vae + text, textAct, mw, mh, textPhase, imagePhase)
            : new DeviceMemoryEstimate(RuntimeBytes, unet + vae, imageAct, mw, mh, textPhase, imagePhase);
    }

    /// <summary>fp16 bytes of a float count, with the lifetime model's margin, each tensor rounded up to its size class
    /// (at most 25 %: counted in full, an upper bound).</summary>
    private static long Fp16(double floats) => (long)(2 * floats * MemoryEstimator.ActivationMargin * 1.25);

    /// <summary>What WeightCache uploads for these parameters, in pool size classes: matrices packed to [rows][Kp] fp16,
    /// vectors in fp32 and (for cuBLASLt's bias) fp16.</summary>
    private static long Bytes(IEnumerable<ParamSpec> specs)
    {
        long sum = 0;
        foreach (var p in specs)
        {
            if (p.Shape.Length >= 2)
            {
                long k = ShapeUtil.Product(p.Shape) / p.Shape[0];
                sum += DevicePool.SizeClass((long)p.Shape[0] * LaunchMath.PaddedK((int)k) * 2);
            }
            else
            {
                long n = ShapeUtil.Product(p.Shape);
                sum += DevicePool.SizeClass(4 * n) + DevicePool.SizeClass(2 * n);
            }
        }
        return sum;
    }

    private static bool IsAttentionProjection(string name) =>
        name.EndsWith(".weight", StringComparison.Ordinal) &&
        (name.Contains(".to_q.", StringComparison.Ordinal) || name.Contains(".to_k.", StringComparison.Ordinal) ||
         name.Contains(".to_v.", StringComparison.Ordinal) || name.Contains(".q_proj.", StringComparison.Ordinal) ||
         name.Contains(".k_proj.", StringComparison.Ordinal) || name.Contains(".v_proj.", StringComparison.Ordinal));

    /// <summary>Each cross-attention caches the prompt's K and V ([tokens, inner] fp16 each) per UNet set.</summary>
    private static long CrossAttentionKvBytes(IEnumerable<ParamSpec> unet, int tokens) =>
        unet.Where(p => p.Name.EndsWith(".attn2.to_k.weight", StringComparison.Ordinal))
            .Sum(p => 2 * DevicePool.SizeClass(2L * tokens * p.Shape[0]));

    /// <summary>Floats at the text encoder's peak: the residual stream, the normed input, the fused QKV, attention
    /// output and the MLP's hidden layer (the scores never exist: flash attention), for one prompt.</summary>
    private static double TextEncoderPeak(Models.ClipTextConfig c) =>
        c.MaxPositionEmbeddings * (8.0 * c.HiddenSize + 2.0 * c.IntermediateSize) + 2.0 * c.MaxPositionEmbeddings * c.HiddenSize /* fp32 upload staging */;
}
