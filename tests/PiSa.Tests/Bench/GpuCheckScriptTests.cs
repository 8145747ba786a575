using System.Diagnostics;
using System.Text.RegularExpressions;

namespace PiSa.Tests.Bench;

/// <summary>
/// bench/gpu-check.sh must fit the GPU machine: at most 10 minutes per command and about 15 minutes in all, start-up
/// included. So it is split into steps, one device call each, most decisive first, each with timeouts summing well
/// under 9 minutes; without an argument it lists them.
/// </summary>
public class GpuCheckScriptTests
{
    private static (int Exit, string Out) Bash(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = FixturePaths.RepoRoot };
        psi.ArgumentList.Add(Path.Combine("bench", "gpu-check.sh"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PISA"] = "/nonexistent/pisa";
        psi.Environment["OUT"] = Path.Combine(Path.GetTempPath(), "pisa-gpu-check-test-" + Environment.ProcessId);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(30_000), "gpu-check.sh did not finish");
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void Without_an_argument_it_lists_the_steps_most_decisive_first_each_well_under_nine_minutes()
    {
        var (exit, output) = Bash();
        Assert.Equal(0, exit);
        var steps = Regex.Matches(output, @"step (\S+): at most (\d+) s").Select(m => (Name: m.Groups[1].Value, Seconds: int.Parse(m.Groups[2].Value))).ToList();
        Assert.Equal(["doctor-selftest", "random-model", "bench", "reference"], steps.Select(s => s.Name));
        Assert.All(steps, s => Assert.True(s.Seconds <= 420, $"step {s.Name} may take {s.Seconds} s: too close to the 10-minute limit per command"));
    }

    [Fact]
    public void The_readme_table_lists_the_same_steps_and_budgets_as_the_script()
    {
        var (_, output) = Bash();
        var script = Regex.Matches(output, @"step (\S+): at most (\d+) s").Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}");
        string readme = File.ReadAllText(Path.Combine(FixturePaths.RepoRoot, "README.md"));
        var table = Regex.Matches(readme, @"\| `bash bench/gpu-check\.sh (\S+)` \|[^\n]*\| (\d+) s \|").Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}");
        Assert.Equal(script, table);
    }

    [Fact]
    public void An_unknown_step_or_a_missing_binary_is_refused_before_anything_runs()
    {
        var (exit, output) = Bash("everything");
        Assert.Equal(2, exit);
        Assert.Contains("unknown step 'everything'", output);
        (exit, output) = Bash("doctor-selftest");
        Assert.Equal(2, exit);
        Assert.Contains("bench/gpu-prep.sh", output);
    }
}
