using System.Text.Json;
using PiSa.Tests.Cli;

namespace PiSa.Tests.Eval;

/// <summary>`pisa eval` against values computed independently with scikit-image (tests/eval/make_eval_fixture.py,
/// output checked in as tests/fixtures/eval/expected.json).</summary>
public sealed class EvalCommandTests
{
    private static string Dir => Path.Combine(FixturePaths.Fixtures, "eval");

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void Psnr_and_ssim_match_scikit_image(int crop)
    {
        using var tmp = new TempDir();
        Assert.Equal(0, PiSa.Cli.Program.Main(["eval", Path.Combine(Dir, "sr"), Path.Combine(Dir, "gt"), "--crop-border", crop.ToString(),
            "--format", "json", "-o", tmp.File("r.json")]));
        using var got = JsonDocument.Parse(File.ReadAllText(tmp.File("r.json")));
        using var want = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json")));
        var expected = want.RootElement.GetProperty("crop_border").GetProperty(crop.ToString()).EnumerateArray().ToList();
        var rows = got.RootElement.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(expected.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(expected[i].GetProperty("image").GetString(), rows[i].GetProperty("image").GetString());
            Assert.Equal(expected[i].GetProperty("psnr_y").GetDouble(), rows[i].GetProperty("psnr_y").GetDouble(), 1e-9);
            Assert.Equal(expected[i].GetProperty("ssim_y").GetDouble(), rows[i].GetProperty("ssim_y").GetDouble(), 1e-9);
        }
        double meanPsnr = expected.Average(e => e.GetProperty("psnr_y").GetDouble());
        Assert.Equal(meanPsnr, got.RootElement.GetProperty("mean").GetProperty("psnr_y").GetDouble(), 1e-9);
    }

    [Fact]
    public void Csv_has_one_row_per_image_and_the_mean()
    {
        var r = PisaProcess.Run("eval", Path.Combine(Dir, "sr"), Path.Combine(Dir, "gt"), "--format", "csv");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Trim().Split('\n');
        Assert.Equal("image,psnr_y,ssim_y", lines[0]);
        Assert.Equal(["a.png", "b.png", "c.png", "mean"], lines[1..].Select(l => l.Split(',')[0]));
    }

    [Fact]
    public void A_missing_ground_truth_is_reported_and_fails_the_exit_code()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("gt"));
        File.Copy(Path.Combine(Dir, "gt", "a.png"), tmp.File("gt/a.png"));
        var r = PisaProcess.Run("eval", Path.Combine(Dir, "sr"), tmp.File("gt"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("b.png: no ground truth named b.*", r.Stderr);
        Assert.Contains("a.png", r.Stdout); // the pair that exists is still measured
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
