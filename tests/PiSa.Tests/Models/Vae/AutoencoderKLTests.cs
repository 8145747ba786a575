using PiSa.Engine.Backends;
using PiSa.Engine.Models.Vae;
using PiSa.Engine.Tensors;
using Xunit.Abstractions;

namespace PiSa.Tests.Models.Vae;

/// <summary>The plain (untiled) VAE against the module-level golden data of the official diffusers 0.25 run
/// (tests/fixtures/pisa-tiny/modules.safetensors, NCHW, converted to NHWC here).</summary>
public class AutoencoderKLTests(ITestOutputHelper log)
{
    private const double Tol = 1e-4;

    internal static IOps NewOps() => new NaiveVaeOps();

    internal static AutoencoderKL TinyVae(IOps ops) => new(VaeFixtures.TinyVaeConfig(), VaeFixtures.TinyVaeWeights(), ops);

    /// <summary>Runs the contiguous part of a step line that comes from one diffusers module.</summary>
    private static HostTensor RunModule(IOps ops, IReadOnlyList<VaeStep> steps, string module, HostTensor input)
    {
        var part = steps.Where(s => s.Name.StartsWith(module + ".") || s.Name == module).ToList();
        Assert.NotEmpty(part);
        return VaeFixtures.Run(ops, input, x =>
        {
            using var c = new VaeStepCursor(ops, part, x);
            c.RunToEnd();
            return c.TakeResult();
        });
    }

    [Theory]
    [InlineData("vae.encoder.down_blocks.1", "encoder.down_blocks.1", false)]
    [InlineData("vae.encoder.mid_block.attentions.0", "encoder.mid_block.attentions.0", false)]
    [InlineData("vae.decoder.mid_block.attentions.0", "decoder.mid_block.attentions.0", true)]
    [InlineData("vae.decoder.up_blocks.1", "decoder.up_blocks.1", true)]
    public void Module_matches_diffusers(string key, string module, bool decoder)
    {
        var m = VaeFixtures.Modules();
        using var ops = NewOps();
        var vae = TinyVae(ops);
        var y = RunModule(ops, decoder ? vae.DecoderSteps : vae.EncoderSteps, module, VaeFixtures.NhwcOf(m, key + ".arg0"));
        double err = Metrics.RelativeL2(y, VaeFixtures.NhwcOf(m, key + ".out"));
        log.WriteLine($"{key}: rel L2 {err:E2}");
        Assert.True(err < Tol, $"{key}: rel L2 {err}");
    }

    [Fact]
    public void EncodeMean_matches_diffusers_posterior_mean()
    {
        var m = VaeFixtures.Modules();
        using var ops = NewOps();
        var vae = TinyVae(ops);
        var y = VaeFixtures.Run(ops, VaeFixtures.NhwcOf(m, "vae.encode.in"), vae.EncodeMean);
        double err = Metrics.RelativeL2(y, VaeFixtures.NhwcOf(m, "vae.encode.mean"));
        log.WriteLine($"encode mean: rel L2 {err:E2}");
        Assert.True(err < Tol, $"encode mean: rel L2 {err}");
    }

    [Fact]
    public void Decode_matches_diffusers()
    {
        var m = VaeFixtures.Modules();
        using var ops = NewOps();
        var vae = TinyVae(ops);
        var y = VaeFixtures.Run(ops, VaeFixtures.NhwcOf(m, "vae.decode.in"), vae.Decode);
        double err = Metrics.RelativeL2(y, VaeFixtures.NhwcOf(m, "vae.decode.out"));
        log.WriteLine($"decode: rel L2 {err:E2}");
        Assert.True(err < Tol, $"decode: rel L2 {err}");
    }

    [Fact]
    public void Missing_or_misshapen_weight_is_a_one_line_error()
    {
        var all = VaeFixtures.ReadF32(Path.Combine(VaeFixtures.VaeDir, "diffusion_pytorch_model.safetensors"));
        using var ops = NewOps();
        var missing = new Dictionary<string, HostTensor>(all);
        missing.Remove("decoder.up_blocks.2.resnets.1.conv2.weight");
        var e1 = Assert.Throws<PiSa.Engine.PisaException>(() =>
            new AutoencoderKL(VaeFixtures.TinyVaeConfig(), new PiSa.Engine.Models.DictionaryWeightSource(missing, "vae"), ops));
        Assert.Contains("decoder.up_blocks.2.resnets.1.conv2.weight", e1.Message);

        // A config wider than the weights: the first conv's shape no longer fits.
        var wide = VaeFixtures.TinyVaeConfig() with { BlockOutChannels = [64, 64, 64, 64] };
        var e2 = Assert.Throws<PiSa.Engine.PisaException>(() => new AutoencoderKL(wide, VaeFixtures.TinyVaeWeights(), ops));
        Assert.Contains("encoder.conv_in.weight", e2.Message);
    }
}
