using System.Text.Json;
using System.Text.RegularExpressions;
using PiSa.Tests.Cli;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// `pisa profile --device ptx` as outside checks call it (the command line is a contract): one image of the tiny
/// random model after a warm-up, the interpreter's counters per kernel grouped by stage and block, the launch count
/// per image, and a Chrome trace with one event per launch.
/// </summary>
public sealed partial class ProfileOnInterpreterTests
{
    [GeneratedRegex(@"launches per image: (\d+) \((\d+) kernels, (\d+) cuBLASLt GEMMs\)")]
    private static partial Regex LaunchLine();

    [InterpreterFact]
    public void Profile_on_the_interpreter_prints_counters_by_stage_and_block_and_writes_a_trace()
    {
        using var dir = new TempDir();
        string trace = dir.File("trace.json");
        // Two passes of the tiny pipeline on the interpreter: about a minute on CI's 2 cores, minutes under load.
        var r = PisaProcess.RunWithin(900, "profile", "--device", "ptx", "--random-weights", "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"),
                                "--size", "64", "--trace", trace);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var m = LaunchLine().Match(r.Stdout);
        Assert.True(m.Success, r.Stdout);
        int launches = int.Parse(m.Groups[1].Value), kernels = int.Parse(m.Groups[2].Value), gemms = int.Parse(m.Groups[3].Value);
        Assert.Equal(launches, kernels + gemms);
        Assert.True(kernels > 100, r.Stdout);
        Assert.Contains("stage unet:", r.Stdout);
        Assert.Contains("stage vae decode:", r.Stdout);
        Assert.Matches(@"down_blocks\.0\s+attention_flash_f16_k\d\s+\d+\s+[\d.]+\s+[\d.]+%\s+[1-9]\d*", r.Stdout);   // on tensor cores
        Assert.Matches(@"conv2d_pipe_\w+_f16\s+\d+\s+[\d.]+\s+[\d.]+%\s+[1-9]\d*", r.Stdout);   // the conv kernel's mma count

        using var doc = JsonDocument.Parse(File.ReadAllText(trace));
        var events = doc.RootElement.GetProperty("traceEvents");
        Assert.Equal(launches, events.GetArrayLength());
        Assert.Contains(events.EnumerateArray(), e => e.GetProperty("cat").GetString() == "unet/mid_block");
        Assert.DoesNotContain(Directory.GetFiles(Path.GetDirectoryName(trace)!), f => PiSa.Engine.Formats.AtomicFile.IsTemporary(f));
    }

    [Fact]
    public void Bad_profile_arguments_are_one_line_errors()
    {
        PisaProcess.AssertOneLineError(PisaProcess.Run("profile", "--device", "ptx", "--random-weights", "--size", "65"), "--size");
        PisaProcess.AssertOneLineError(PisaProcess.Run("profile", "--device", "cpu", "--random-weights"), "cpu", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run("profile", "--device", "ptx"), "--random-weights");
    }
}
