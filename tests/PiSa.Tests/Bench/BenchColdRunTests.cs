using System.Text.Json;
using PiSa.Tests.Cli;

namespace PiSa.Tests.Bench;

/// <summary>`pisa bench` runs through the library door, and a timed run the library labels cold is said, with its
/// reasons, in the table and the JSON; after a warm-up none is.</summary>
public class BenchColdRunTests
{
    private static (PisaProcess.Result Run, JsonElement Size, bool FirstCold) Bench(TempDir dir, string warmup, string runs)
    {
        string json = dir.File($"bench-{warmup}.json");
        var r = PisaProcess.Run("bench", "--random-weights", "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"),
            "--sizes", "64", "--runs", runs, "--warmup", warmup, "--device", "cpu", "--json", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        return (r, root.GetProperty("sizes")[0].Clone(), root.GetProperty("first_run_cold").GetBoolean());
    }

    [Fact]
    public void The_first_run_without_warm_up_is_labelled_cold_and_the_next_warm()
    {
        using var dir = new TempDir();
        var (cold, size, firstCold) = Bench(dir, "0", "2");
        var run = Assert.Single(size.GetProperty("cold_runs").EnumerateArray());
        Assert.Equal(1, run.GetProperty("run").GetInt32());
        Assert.Equal(["prompt encoded", "weight set built", "new input size"], run.GetProperty("why").EnumerateArray().Select(x => x.GetString()));
        Assert.True(firstCold);
        Assert.Contains("timed run 1 is cold (prompt encoded, weight set built, new input size)", cold.Stdout);
        Assert.Contains("text (run 1 uncached)", cold.Stdout);
        Assert.DoesNotContain("timed run 2", cold.Stdout);

        var (warm, warmSize, warmFirst) = Bench(dir, "1", "1");
        Assert.Empty(warmSize.GetProperty("cold_runs").EnumerateArray());
        Assert.False(warmFirst);
        Assert.DoesNotContain("is cold", warm.Stdout);
        Assert.Contains("text (cached)", warm.Stdout);
    }
}
