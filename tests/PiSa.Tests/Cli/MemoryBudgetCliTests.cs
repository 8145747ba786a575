using System.Diagnostics;
using PiSa.Engine.Imaging;

namespace PiSa.Tests.Cli;

/// <summary>`pisa upscale` checks its memory budget before any compute: extreme images and too-small budgets are
/// refused in one line (exit 1, no output file), a run that fits goes through.</summary>
public sealed class MemoryBudgetCliTests
{
    private static string[] Upscale(string input, string output, params string[] extra) =>
        ["upscale", input, "-o", output, "--model", Path.Combine(FixturePaths.Tiny, "sd"), "--lora", Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"), "--device", "cpu", .. extra];

    [Theory]
    [InlineData(16384, 1)]
    [InlineData(1, 16384)]
    [InlineData(4096, 2)]
    public void Extreme_aspect_ratio_png_is_refused_before_any_compute(int w, int h)
    {
        using var dir = new TempDir();
        string input = dir.File($"x{w}x{h}.png"), output = dir.File("out.png");
        var img = new RgbImage(w, h);
        new Random(w + h).NextBytes(img.Data);
        ImageIO.Save(img, input);
        var sw = Stopwatch.StartNew();
        var r = PisaProcess.Run(Upscale(input, output)); // default --process-size 512: the enlargement explodes
        sw.Stop();
        Assert.Equal(1, r.ExitCode);
        var errors = r.StderrLines.Where(l => l.StartsWith("pisa: error:", StringComparison.Ordinal)).ToList();
        Assert.Single(errors);
        Assert.Contains($"x{w}x{h}.png", errors[0]);
        Assert.True(errors[0].Contains("memory budget") || errors[0].Contains("too large"), errors[0]);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.False(File.Exists(output));
        // The whole process (runtime start, tiny model load, refusal) on a shared machine; the refusal itself is
        // timed in-process by MemoryBudgetTests.
        Assert.True(sw.Elapsed.TotalSeconds < 30, $"took {sw.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void A_budget_below_the_estimate_is_refused_and_one_above_it_runs()
    {
        using var dir = new TempDir();
        string input = Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"), output = dir.File("out.png");
        var refused = PisaProcess.Run(Upscale(input, output, "--process-size", "64", "--max-memory", "100M"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("memory budget of 100 MiB (--max-memory)", refused.Stderr);
        Assert.False(File.Exists(output));

        var ok = PisaProcess.Run(Upscale(input, output, "--process-size", "64", "--max-memory", "4G"));
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.True(File.Exists(output));
    }

    [Fact]
    public void A_malformed_budget_is_a_one_line_error()
        => PisaProcess.AssertOneLineError(PisaProcess.Run(Upscale(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"), "/tmp/never.png", "--max-memory", "lots")), "--max-memory", exitCode: 2); // a usage mistake

    [Fact]
    public void Bench_refuses_a_size_over_the_budget_before_running_it()
    {
        var r = PisaProcess.Run("bench", "--random-weights", "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"), "--device", "cpu",
            "--sizes", "64,4096", "--warmup", "0", "--runs", "1", "--max-memory", "1G");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("bench size 4096 needs about", r.Stderr);
        Assert.DoesNotContain("run 1/1", r.Stderr); // nothing ran
    }
}
