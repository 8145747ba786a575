using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Vae;

/// <summary>
/// diffusers 0.25 AutoencoderKL (Stable Diffusion's VAE) written once against <see cref="IOps"/>.
/// Activations are NHWC. Weights are read from an <see cref="IWeightSource"/> by their diffusers names
/// ("encoder.down_blocks.0.resnets.0.conv1.weight", "quant_conv.weight", ...); every width, group count
/// and block count comes from the <see cref="VaeConfig"/>.
///
/// Scaling by <see cref="VaeConfig.ScalingFactor"/> is the pipeline's job: <see cref="EncodeMean"/> returns the
/// unscaled posterior mean and <see cref="Decode"/> takes an unscaled latent.
/// </summary>
public sealed class AutoencoderKL
{
    private readonly HostTensor _quantMeanWeight, _quantMeanBias;
    private readonly HostTensor _postQuantWeight, _postQuantBias;

    public VaeConfig Config { get; }
    public IOps Ops { get; }

    /// <summary>Encoder and decoder as step lines (see <see cref="VaeStepBuilder"/>).</summary>
    public IReadOnlyList<VaeStep> EncoderSteps { get; }
    public IReadOnlyList<VaeStep> DecoderSteps { get; }
    /// <summary>The same modules laid out as PiSA-SR's VAEHook runs them tile by tile.</summary>
    public IReadOnlyList<VaeStep> EncoderHookSteps { get; }
    public IReadOnlyList<VaeStep> DecoderHookSteps { get; }

    /// <summary>Spatial factor between image and latent: 2^(number of blocks - 1) (8 for SD).</summary>
    public int ScaleFactor => 1 << (Config.BlockOutChannels.Length - 1);

    public AutoencoderKL(VaeConfig config, IWeightSource weights, IOps ops)
    {
        VaeStepBuilder.Validate(config);
        Config = config;
        Ops = ops;
        EncoderSteps = VaeStepBuilder.Encoder(config, weights, vaeHookLayout: false);
        DecoderSteps = VaeStepBuilder.Decoder(config, weights, vaeHookLayout: false);
        EncoderHookSteps = VaeStepBuilder.Encoder(config, weights, vaeHookLayout: true);
        DecoderHookSteps = VaeStepBuilder.Decoder(config, weights, vaeHookLayout: true);

        int l = config.LatentChannels;
        // quant_conv is a 1x1 conv over the 2*latent moments; only its first `latent` outputs (the mean)
        // are ever used, so keep just those rows (output channels are independent: same numbers).
        var qw = VaeStepBuilder.Param(weights, "quant_conv.weight", 2 * l, 2 * l, 1, 1);
        var qb = VaeStepBuilder.Param(weights, "quant_conv.bias", 2 * l);
        _quantMeanWeight = new HostTensor([l, 2 * l, 1, 1], qw.Data.AsSpan(0, l * 2 * l).ToArray());
        _quantMeanBias = new HostTensor([l], qb.Data.AsSpan(0, l).ToArray());
        _postQuantWeight = VaeStepBuilder.Param(weights, "post_quant_conv.weight", l, l, 1, 1);
        _postQuantBias = VaeStepBuilder.Param(weights, "post_quant_conv.bias", l);
    }

    /// <summary>x [N, H, W, in_channels] in [-1, 1] -> posterior mean [N, H/8, W/8, latent] (unscaled).</summary>
    public DeviceTensor EncodeMean(DeviceTensor x)
    {
        using var h = RunEncoder(x);
        return MeanFromEncoderOutput(h);
    }

    /// <summary>z [N, h, w, latent] (unscaled) -> image [N, 8h, 8w, out_channels], not clamped.</summary>
    public DeviceTensor Decode(DeviceTensor z)
    {
        using var p = PostQuantConv(z);
        return RunDecoder(p);
    }

    /// <summary>The Encoder module alone: [N, H, W, in] -> [N, H/8, W/8, 2*latent].</summary>
    public DeviceTensor RunEncoder(DeviceTensor x, CancellationToken ct = default)
    {
        CheckInput(x, Config.InChannels, "encoder input");
        return Run(EncoderSteps, x, ct);
    }

    /// <summary>The Decoder module alone (after post_quant_conv): [N, h, w, latent] -> [N, 8h, 8w, out].</summary>
    public DeviceTensor RunDecoder(DeviceTensor z, CancellationToken ct = default)
    {
        CheckInput(z, Config.LatentChannels, "decoder input");
        return Run(DecoderSteps, z, ct);
    }

    /// <summary>quant_conv applied to the encoder output, keeping the mean half of the moments.</summary>
    public DeviceTensor MeanFromEncoderOutput(DeviceTensor h)
    {
        CheckInput(h, 2 * Config.LatentChannels, "encoder output");
        return Ops.Conv2d(h, _quantMeanWeight, _quantMeanBias, 1, Pad2d.Same(0));
    }

    public DeviceTensor PostQuantConv(DeviceTensor z)
    {
        CheckInput(z, Config.LatentChannels, "latent");
        return Ops.Conv2d(z, _postQuantWeight, _postQuantBias, 1, Pad2d.Same(0));
    }

    private DeviceTensor Run(IReadOnlyList<VaeStep> steps, DeviceTensor x, CancellationToken ct)
    {
        using var cursor = new VaeStepCursor(Ops, steps, x, ownsInput: false, ct);
        cursor.RunToEnd();
        return cursor.TakeResult();
    }

    private static void CheckInput(DeviceTensor x, int channels, string what)
    {
        if (x.Rank != 4 || x.Dim(3) != channels || x.Dim(1) < 1 || x.Dim(2) < 1)
            throw new PisaException($"VAE {what}: expected NHWC [N, H, W, {channels}], got [{ShapeUtil.Format(x.Shape)}]");
    }
}
