using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Pipeline;

/// <summary>
/// A stage whose output holds NaN or infinity stops the run with an error naming that stage (tiny model, CPU
/// backend). The unet case is real (LoRA scale 1e30 overflows float32); the others plant one non-finite value
/// in the output of an op that only that stage runs, as fp16 overflow would on the GPU.
/// </summary>
public sealed class NonFiniteStageTests
{
    /// <summary>Replaces the first element of every output of the chosen op with +inf.</summary>
    private sealed class Poisoning(IOps inner, Func<string, DeviceTensor, HostTensor?, bool> poison) : DelegatingOps(inner)
    {
        private DeviceTensor Maybe(string op, DeviceTensor x, HostTensor? w, DeviceTensor y)
        {
            if (!poison(op, x, w)) return y;
            var h = Download(y);
            y.Dispose();
            h.Data[0] = float.PositiveInfinity;
            return Upload(h);
        }

        public override DeviceTensor LayerNorm(DeviceTensor x, HostTensor g, HostTensor b, float e) =>
            Maybe(nameof(LayerNorm), x, g, base.LayerNorm(x, g, b, e));
        public override DeviceTensor Conv2d(DeviceTensor x, HostTensor w, HostTensor? b, int s, Pad2d p, DeviceTensor? r = null) =>
            Maybe(nameof(Conv2d), x, w, base.Conv2d(x, w, b, s, p, r));
    }

    private static NonFiniteResultException Fails(IOps ops, LoraMode mode = LoraMode.Default, float lambdaSem = 1)
    {
        using var model = TinyFixtureModel.Load(ops);
        var pipeline = new UpscalePipeline(model);
        var input = ImageIO.Load(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"));
        var options = new UpscaleOptions { Mode = mode, LambdaSem = lambdaSem, ProcessSize = 64 };
        return Assert.Throws<NonFiniteResultException>(() => pipeline.Run(input, options));
    }

    [Fact]
    public void Text_encoder_output_with_an_infinity_fails_naming_the_stage()
    {
        // Only the text encoder uses LayerNorm before the UNet; it is the first stage, so it must fail first.
        var e = Fails(new Poisoning(new CpuOps(), (op, _, _) => op == nameof(IOps.LayerNorm)));
        Assert.Equal("text encoder", e.Stage);
        Assert.Contains("the text encoder stage produced", e.Message);
        Assert.Contains("non-finite", e.Message);
    }

    [Fact]
    public void Vae_encoder_output_with_an_infinity_fails_naming_the_stage()
    {
        // The VAE encoder's conv_in is the only convolution of an RGB image.
        var e = Fails(new Poisoning(new CpuOps(), (op, x, _) => op == nameof(IOps.Conv2d) && x.Dim(-1) == 3));
        Assert.Equal("vae encode", e.Stage);
    }

    [Fact]
    public void Absurd_lora_scale_overflows_float32_in_the_unet_and_fails_naming_it()
    {
        using var ops = new CpuOps();
        var fused = Fails(ops, LoraMode.Fused, 1e30f);
        Assert.Equal("unet", fused.Stage);
        Assert.Contains("lambda_sem 1E+30", fused.Message);
        // The exact mode scales eps(W_pisa) - eps(W_pix) instead: at 1e30 that stays finite (and the decoder's
        // GroupNorm normalises it away), at 3e38 a few of its values overflow, and a few are enough.
        Assert.Equal("unet", Fails(ops, LoraMode.Adjustable, 3e38f).Stage);
    }

    [Fact]
    public void Vae_decoder_output_with_an_infinity_fails_naming_the_stage_even_though_the_clamp_would_hide_it()
    {
        // post_quant_conv (1x1 on the 4 latent channels) runs only in the decoder; its inf turns into NaN that
        // the final clamp maps into [-1, 1], so only a check before the clamp sees it.
        var e = Fails(new Poisoning(new CpuOps(), (op, x, w) => op == nameof(IOps.Conv2d) && x.Dim(-1) == 4 && w!.Dim(2) == 1));
        Assert.Equal("vae decode", e.Stage);
    }
}
