using System.Text.Json;
using PiSa.Cli.Commands;
using PiSa.Engine;

namespace PiSa.Tests.Cli;

/// <summary>`pisa upscale --list` with shards, deterministic names, --skip-existing and --results.</summary>
public sealed class BatchListTests
{
    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(10, 4)]
    [InlineData(3, 5)] // more shards than inputs: some shards are empty
    public void Shards_cover_every_input_exactly_once(int inputs, int shards)
    {
        var all = Enumerable.Range(0, inputs).ToList();
        var seen = Enumerable.Range(0, shards).SelectMany(i => BatchList.Select(all, i, shards)).ToList();
        Assert.Equal(all, seen.Order());
        Assert.True(Enumerable.Range(0, shards).All(i => BatchList.Select(all, i, shards).Count <= (inputs + shards - 1) / shards));
    }

    [Fact]
    public void Shard_comes_from_the_option_or_the_indexed_job_variable()
    {
        Assert.Equal((2, 5), BatchList.ParseShard("2/5", null, null));
        Assert.Equal((3, 4), BatchList.ParseShard(null, 4, "3"));
        Assert.Equal((0, 1), BatchList.ParseShard(null, null, "7"));
        Assert.Contains("JOB_COMPLETION_INDEX", Assert.Throws<PisaException>(() => BatchList.ParseShard(null, 4, null)).Message);
        Assert.Throws<PisaException>(() => BatchList.ParseShard(null, 4, "4"));
        Assert.Throws<PisaException>(() => BatchList.ParseShard("5/5", null, null));
        Assert.Throws<PisaException>(() => BatchList.ParseShard("1/-2", null, null));
        Assert.Throws<PisaException>(() => BatchList.ParseShard("1/4", 3, null));
    }

    [Fact]
    public void Output_names_mirror_the_list_root_and_collisions_are_refused()
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir.File("list.txt"), ["# inputs", "a/x.png", "", "b/x.png", "c.bmp", "d.webp", "e.gif"]);
        var plan = BatchList.Plan(dir.File("list.txt"), null, dir.File("out"));
        Assert.Equal([Path.Combine("a", "x.png"), Path.Combine("b", "x.png"), "c.bmp", "d.webp", "e.png"],
            plan.Select(p => Path.GetRelativePath(dir.File("out"), p.Output)));
        File.WriteAllLines(dir.File("bad.txt"), ["../escape.png"]);
        Assert.Contains("outside the list root", Assert.Throws<PisaException>(() => BatchList.Plan(dir.File("bad.txt"), null, dir.File("out"))).Message);
        File.WriteAllLines(dir.File("dup.txt"), ["a.gif", "a.png"]);   // GIF is read, not written: a.gif goes to a.png
        Assert.Contains("both be written", Assert.Throws<PisaException>(() => BatchList.Plan(dir.File("dup.txt"), null, dir.File("out"))).Message);
    }

    [Fact]
    public void Two_shards_upscale_the_list_with_results_and_skip_what_exists()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("in/sub"));
        foreach (var c in "abc") File.Copy(Path.Combine(FixturePaths.Tiny, "inputs", $"lq_{c}.png"), dir.File($"in/{(c == 'b' ? "sub/" : "")}{c}.png"));
        File.WriteAllBytes(dir.File("in/bad.png"), "not an image"u8.ToArray());
        File.WriteAllLines(dir.File("in/list.txt"), ["a.png", "sub/b.png", "bad.png", "c.png"]);
        string[] Args(string shard, string results) => ["upscale", "--list", dir.File("in/list.txt"), "-o", dir.File("out"), "--shard", shard,
            "--results", results, "--model", Sd, "--lora", Lora, "--process-size", "64", "--device", "cpu", "--skip-existing"];

        var r0 = PisaProcess.Run(Args("0/2", dir.File("r0.jsonl")));   // a.png, bad.png
        var r1 = PisaProcess.Run(Args("1/2", dir.File("r1.jsonl")));   // sub/b.png, c.png
        Assert.Equal(1, r0.ExitCode);                                   // bad.png failed, the rest completed
        Assert.Contains("bad.png", r0.Stderr);
        Assert.DoesNotContain("   at ", r0.Stderr);
        Assert.Equal(0, r1.ExitCode);
        Assert.True(File.Exists(dir.File("out/a.png")) && File.Exists(dir.File("out/sub/b.png")) && File.Exists(dir.File("out/c.png")));
        Assert.False(File.Exists(dir.File("out/bad.png")));

        var lines = File.ReadAllLines(dir.File("r0.jsonl")).Concat(File.ReadAllLines(dir.File("r1.jsonl")))
            .Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["a.png", "b.png", "bad.png", "c.png"], lines.Select(l => Path.GetFileName(l.GetProperty("input").GetString()!)).Order());
        var bad = lines.Single(l => l.GetProperty("input").GetString()!.EndsWith("bad.png"));
        Assert.Equal("failed", bad.GetProperty("status").GetString());
        Assert.False(string.IsNullOrEmpty(bad.GetProperty("error").GetString()));
        Assert.All(lines.Where(l => !l.GetProperty("input").GetString()!.EndsWith("bad.png")), l =>
        {
            Assert.Equal("ok", l.GetProperty("status").GetString());
            Assert.True(l.GetProperty("stages_ms").GetProperty("unet").GetDouble() >= 0);
        });

        // The retry of shard 1 (same index, as a Kubernetes retry) skips what it already wrote.
        var again = PisaProcess.Run(Args("1/2", dir.File("r1b.jsonl")));
        Assert.Equal(0, again.ExitCode);
        Assert.All(File.ReadAllLines(dir.File("r1b.jsonl")), l => Assert.Equal("skipped", JsonDocument.Parse(l).RootElement.GetProperty("status").GetString()));
    }

    [Fact]
    public void Batch_options_without_a_list_are_usage_errors()
    {
        using var dir = new TempDir();
        var r = PisaProcess.Run("upscale", Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"), "-o", dir.File("o.png"), "--model", Sd, "--lora", Lora, "--shard", "0/2");
        PisaProcess.AssertOneLineError(r, "--shard works with --list", exitCode: 2);
        var none = PisaProcess.Run("upscale", "-o", dir.File("o.png"), "--model", Sd, "--lora", Lora);
        PisaProcess.AssertOneLineError(none, "no INPUT", exitCode: 2);
        // What cannot apply to a list is refused, not ignored (the output options work with it: BatchListOptionsTests).
        File.WriteAllText(dir.File("list.txt"), "a.png\n");
        var recursive = PisaProcess.Run("upscale", "--list", dir.File("list.txt"), "-o", dir.File("out"), "--model", Sd, "--lora", Lora, "--recursive");
        PisaProcess.AssertOneLineError(recursive, "--recursive walks input folders: not with --list", exitCode: 2);
    }
}
