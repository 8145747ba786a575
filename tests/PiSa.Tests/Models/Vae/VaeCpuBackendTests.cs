using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Formats;
using PiSa.Engine.Models.Vae;
using PiSa.Engine.Pipeline.VaeTiling;
using Xunit.Abstractions;

namespace PiSa.Tests.Models.Vae;

/// <summary>The VAE on the product stack: DiffusersConfig.LoadVae + SafetensorsWeightSource + CpuOps,
/// against the same golden data as the naive-ops tests.</summary>
public class VaeCpuBackendTests(ITestOutputHelper log)
{
    private const double Tol = 1e-4;

    private static (CpuOps Ops, SafetensorsWeightSource Weights, AutoencoderKL Vae) Load()
    {
        var ops = new CpuOps();
        var w = SafetensorsWeightSource.Open(Path.Combine(VaeFixtures.VaeDir, "diffusion_pytorch_model.safetensors"));
        var cfg = DiffusersConfig.LoadVae(Path.Combine(VaeFixtures.VaeDir, "config.json"));
        return (ops, w, new AutoencoderKL(cfg, w, ops));
    }

    [Fact]
    public void Plain_encode_and_decode_match_diffusers()
    {
        var m = VaeFixtures.Modules();
        var (ops, w, vae) = Load();
        using var _ = w;
        var mean = VaeFixtures.Run(ops, VaeFixtures.NhwcOf(m, "vae.encode.in"), vae.EncodeMean);
        double e1 = Metrics.RelativeL2(mean, VaeFixtures.NhwcOf(m, "vae.encode.mean"));
        var dec = VaeFixtures.Run(ops, VaeFixtures.NhwcOf(m, "vae.decode.in"), vae.Decode);
        double e2 = Metrics.RelativeL2(dec, VaeFixtures.NhwcOf(m, "vae.decode.out"));
        log.WriteLine($"cpu: encode mean rel L2 {e1:E2}, decode {e2:E2}");
        Assert.True(e1 < Tol && e2 < Tol, $"encode {e1}, decode {e2}");
    }

    [Fact]
    public void Tiled_encode_and_decode_match_the_official_vaehook_case()
    {
        var f = VaeFixtures.Case("f_default_vaetiled");
        var (ops, w, vae) = Load();
        using var _ = w;
        float sf = vae.Config.ScalingFactor;
        var lq = VaeFixtures.Map(VaeFixtures.Run(ops, VaeFixtures.NhwcOf(f, "input_image"), x => TiledVae.EncodeMean(vae, x, 32)), v => v * sf);
        double e1 = Metrics.RelativeL2(lq, VaeFixtures.NhwcOf(f, "lq_latent"));
        var z = VaeFixtures.Map(VaeFixtures.NhwcOf(f, "hq_latent"), v => v / sf);
        var dec = VaeFixtures.Map(VaeFixtures.Run(ops, z, t => TiledVae.Decode(vae, t, 8)), v => Math.Clamp(v, -1f, 1f));
        double e2 = Metrics.RelativeL2(dec, VaeFixtures.NhwcOf(f, "decoded"));
        log.WriteLine($"cpu tiled: lq_latent rel L2 {e1:E2}, decoded {e2:E2}");
        Assert.True(e1 < Tol && e2 < Tol, $"tiled encode {e1}, tiled decode {e2}");
    }
}
