using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using Xunit.Abstractions;

namespace PiSa.Tests.Pipeline;

/// <summary>
/// Every public golden case through `pisa upscale` itself (the CLI entry point, CPU backend), comparing each
/// intermediate the official code recorded and the saved PNG.
/// </summary>
public sealed class GoldenPipelineTests(ITestOutputHelper log)
{
    public static IEnumerable<object[]> Cases() => GoldenCase.Names;

    // Relative L2 bounds: float32 on both sides, so differences come only from the order of summation.
    private const double Tight = 1e-4, Loose = 1e-3;

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case_matches_the_official_outputs(string name)
    {
        var c = GoldenCase.Get(name);
        using var dir = new TempDir();
        string png = Path.Combine(dir.Path, "out.png"), dump = Path.Combine(dir.Path, "dump.safetensors");
        int exit = PiSa.Cli.Program.Main(c.CliArgs(Path.Combine(FixturePaths.Tiny, "sd"), Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"), png, dump));
        Assert.Equal(0, exit);

        using var expected = SafetensorsFile.Open(c.ExpectedTensors);
        using var actual = SafetensorsFile.Open(dump);
        foreach (var t in new[] { "input_image", "prompt_embeds", "lq_latent", "unet_pred", "hq_latent", "decoded", "final" })
        {
            var e = expected.ReadFloat(t);
            var a = actual.ReadFloat(t);
            Assert.Equal(e.Shape, a.Shape);
            double rel = Metrics.RelativeL2(a.Data, e.Data);
            log.WriteLine($"{name} {t}: relative L2 {rel:E2}, max abs {Metrics.MaxAbs(a.Data, e.Data):E2}");
            Assert.False(a.Data.Any(float.IsNaN), $"{t} has NaN");
            Assert.True(rel < (t is "decoded" or "final" ? Loose : Tight), $"{name} {t}: relative L2 {rel:E3}");
        }

        var want = ImageIO.Load(c.ExpectedPng);
        var got = ImageIO.Load(png);
        Assert.Equal((want.Width, want.Height), (got.Width, got.Height));
        double mad = want.Data.Zip(got.Data, (x, y) => (double)Math.Abs(x - y)).Average();
        int maxDiff = want.Data.Zip(got.Data, (x, y) => Math.Abs(x - y)).Max();
        log.WriteLine($"{name} png: mean abs diff {mad:F4} levels, max {maxDiff}");
        Assert.True(mad < 0.5, $"{name}: PNG mean absolute difference {mad:F3} levels");
    }
}
