using System.Text.Json;
using PiSa.Cli.Commands;
using PiSa.Engine;
using PiSa.Engine.Pipeline;
using PiSa.Tests.Cli;
using PiSa.Tests.Interpreter;

namespace PiSa.Tests.Bench;

public class BenchCommandTests
{
    [Fact]
    public void Bench_on_the_tiny_random_model_writes_the_expected_json()
    {
        using var dir = new TempDir();
        string json = dir.File("bench.json");
        var r = PisaProcess.Run("bench", "--random-weights", "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"),
            "--sizes", "64", "--runs", "1", "--warmup", "0", "--device", "cpu", "--json", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("random weights of the shapes in", r.Stdout);
        Assert.Contains("end to end", r.Stdout);
        Assert.Contains("process peak working set", r.Stdout);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("cpu", root.GetProperty("backend").GetString());
        Assert.True(root.GetProperty("random_weights").GetBoolean());
        Assert.Equal("default", root.GetProperty("mode").GetString());
        Assert.Equal(1, root.GetProperty("runs").GetInt32());
        Assert.Equal(0, root.GetProperty("warmup").GetInt32());
        Assert.True(root.GetProperty("peak_working_set_bytes").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("peak_device_bytes").ValueKind);
        var size = Assert.Single(root.GetProperty("sizes").EnumerateArray());
        Assert.Equal(64, size.GetProperty("output_size").GetInt32());
        Assert.Equal(16, size.GetProperty("input_size").GetInt32());
        var stages = size.GetProperty("stages").EnumerateArray().ToList();
        Assert.Equal(["text encoder", "vae encode", "unet", "vae decode"], stages.Select(s => s.GetProperty("name").GetString()));
        double stageSum = 0;
        foreach (var s in stages)
        {
            Assert.Single(s.GetProperty("runs_ms").EnumerateArray());
            double min = s.GetProperty("min_ms").GetDouble();
            Assert.True(min >= 0);
            Assert.Equal(min, s.GetProperty("median_ms").GetDouble());
            Assert.Equal(0, s.GetProperty("spread_ms").GetDouble());
            Assert.True(s.GetProperty("flop").GetDouble() > 0);
            stageSum += min;
        }
        // One run without warm-up: the text encoder ran for real, so it has time.
        Assert.True(stages[0].GetProperty("min_ms").GetDouble() > 0);
        var e2e = size.GetProperty("end_to_end");
        double total = e2e.GetProperty("median_ms").GetDouble();
        Assert.True(total >= stageSum * 0.99 && total < stageSum * 1.5 + 50, $"end to end {total} ms vs stages {stageSum} ms");
        Assert.True(e2e.GetProperty("tflops_at_median").GetDouble() > 0);
    }

    [Fact]
    public void Several_modes_share_one_model_and_write_one_json_each()
    {
        using var dir = new TempDir();
        var r = PisaProcess.Run("bench", "--random-weights", "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"),
            "--sizes", "64", "--runs", "1", "--warmup", "0", "--device", "cpu", "--mode", "default,adjustable,fused", "--json", dir.File("b.json"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        foreach (var mode in new[] { "default", "adjustable", "fused" })
        {
            Assert.Contains($"mode {mode}", r.Stdout);
            using var doc = JsonDocument.Parse(File.ReadAllText(dir.File($"b-{mode}.json")));
            Assert.Equal(mode, doc.RootElement.GetProperty("mode").GetString());
        }
        Assert.False(File.Exists(dir.File("b.json")));
        Assert.Equal(3, r.Stdout.Split('\n').Count(l => l.Contains("(shared by the modes)")));
        // One model load: the three blocks report the same load time.
        Assert.Single(r.Stdout.Split('\n').Where(l => l.Contains("model load")).Select(l => l[l.IndexOf("model load")..]).Distinct());
    }

    /// <summary>--graphs on: the timed runs replay the UNet pass and both VAE halves (three graphs recorded in the
    /// second warm-up), which the report shows. The tiny model on the interpreter: three runs, about 20 s.</summary>
    [InterpreterFact]
    public void Bench_with_graphs_on_times_replays_and_says_so()
    {
        using var dir = new TempDir();
        string json = dir.File("bench.json");
        var r = PisaProcess.RunWithin(600, "bench", "--random-weights", "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"),
            "--sizes", "64", "--runs", "1", "--warmup", "2", "--device", "ptx", "--graphs", "on", "--json", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("CUDA graphs on", r.Stdout);
        // Warm-up 2 records the three graphs and replays them; the timed run replays them again.
        Assert.Contains("CUDA graphs: 3 recorded, 6 replays, 0 dropped as stale", r.Stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.True(doc.RootElement.GetProperty("cuda_graphs").GetBoolean());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("cuda_graph_failure").ValueKind);
    }

    [Fact]
    public void Graphs_parse_and_name_one_json_each_when_both()
    {
        Assert.Null(BenchCommand.ParseGraphs(null));
        Assert.Equal([false], BenchCommand.ParseGraphs("off")!);
        Assert.Equal([true], BenchCommand.ParseGraphs(" On")!);
        Assert.Equal([false, true], BenchCommand.ParseGraphs("both")!);
        Assert.Throws<UsageException>(() => BenchCommand.ParseGraphs("sometimes"));
        var both = new BenchCommand.BenchArgs([512], [LoraMode.Default, LoraMode.Fused], 2, 5, "cuda", null, null, true, null,
            Path.Combine("out", "b.json"), Graphs: [false, true]);
        Assert.Equal(Path.Combine("out", "b-fused-graphs-on.json"), BenchCommand.JsonPathFor(both, LoraMode.Fused, true));
        Assert.Equal(Path.Combine("out", "b-default-graphs-off.json"), BenchCommand.JsonPathFor(both, LoraMode.Default, false));
        var one = both with { Modes = [LoraMode.Default], Graphs = [true] };
        Assert.Equal(Path.Combine("out", "b.json"), BenchCommand.JsonPathFor(one, LoraMode.Default, true));
    }

    [Fact]
    public void Graphs_on_is_refused_with_too_few_warm_ups_or_without_a_cuda_backend()
    {
        string tiny = Path.Combine(FixturePaths.Tiny, "sd");
        PisaProcess.AssertOneLineError(PisaProcess.Run("bench", "--random-weights", "--config-dir", tiny, "--device", "ptx", "--graphs", "on", "--warmup", "1"),
            "--warmup 2", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run("bench", "--random-weights", "--config-dir", tiny, "--device", "cpu", "--graphs", "both"),
            "needs the CUDA backend");
        PisaProcess.AssertOneLineError(PisaProcess.Run("bench", "--random-weights", "--config-dir", tiny, "--device", "cpu", "--graphs", "maybe"),
            "maybe", exitCode: 2);
    }

    [Theory]
    [InlineData("default", new[] { LoraMode.Default })]
    [InlineData("fused, default", new[] { LoraMode.Fused, LoraMode.Default })]
    public void Modes_parse(string text, LoraMode[] expected) => Assert.Equal(expected, BenchCommand.ParseModes(text));

    [Theory]
    [InlineData("fast")]
    [InlineData("default,default")]
    [InlineData("")]
    public void Bad_modes_are_refused(string text) => Assert.Throws<PisaException>(() => BenchCommand.ParseModes(text));

    [Fact]
    public void A_bad_mode_is_a_usage_error()
    {
        var r = PisaProcess.Run("bench", "--random-weights", "--device", "cpu", "--mode", "default,fast");
        PisaProcess.AssertOneLineError(r, "fast", exitCode: 2);
    }

    [Fact]
    public void Bench_refuses_model_and_random_weights_together()
    {
        var r = PisaProcess.Run("bench", "--random-weights", "--model", "x", "--lora", "y", "--device", "cpu");
        PisaProcess.AssertOneLineError(r, "either --model", exitCode: 2);
    }

    [Theory]
    [InlineData("512", new[] { 512 })]
    [InlineData("256, 512,1024", new[] { 256, 512, 1024 })]
    public void Sizes_parse(string text, int[] expected) => Assert.Equal(expected, BenchCommand.ParseSizes(text));

    [Theory]
    [InlineData("500")]
    [InlineData("0")]
    [InlineData("abc")]
    [InlineData("")]
    public void Bad_sizes_are_refused(string text) => Assert.ThrowsAny<PisaException>(() => BenchCommand.ParseSizes(text));
}
