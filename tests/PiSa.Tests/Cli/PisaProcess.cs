using System.Diagnostics;

namespace PiSa.Tests.Cli;

/// <summary>Runs the built `pisa` (pisa.dll beside the tests) as a separate process, as a user would.</summary>
public static class PisaProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public static Result Run(params string[] args) => RunWithin(120, args);

    /// <summary>As <see cref="Run"/> with another time limit (work on the PTX interpreter on a loaded 2-core machine).</summary>
    public static Result RunWithin(int seconds, params string[] args) => Run(StartInfo(args), seconds);

    /// <summary>Runs `pisa` as <paramref name="psi"/> says (from <see cref="StartInfo"/>, with the caller's environment
    /// changes) and waits at most <paramref name="seconds"/>.</summary>
    public static Result Run(ProcessStartInfo psi, int seconds = 120)
    {
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(seconds * 1000)) { p.Kill(true); throw new TimeoutException($"pisa did not finish in {seconds} s"); }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>How to start `pisa` with these arguments (output and error redirected), for tests that watch the process.</summary>
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pisa.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("PISA_DEBUG");
        // Where CI's NVRTC lives, for children started without it in their environment.
        string nvrtc = Path.Combine(FixturePaths.RepoRoot, ".cache", "cuda118", "lib");
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("PISA_CUDA_LIB_DIRS")) && Directory.Exists(nvrtc))
            psi.Environment["PISA_CUDA_LIB_DIRS"] = nvrtc;
        return psi;
    }

    /// <summary>A failure as the brief wants it: non-zero exit, one line on stderr, no stack trace.</summary>
    public static void AssertOneLineError(Result r, string expectedFragment, int exitCode = 1)
    {
        Assert.Equal(exitCode, r.ExitCode);
        var lines = r.StderrLines;
        Assert.True(lines.Length == 1, $"expected one stderr line, got {lines.Length}:\n{r.Stderr}");
        Assert.StartsWith("pisa: ", lines[0]);
        Assert.Contains(expectedFragment, lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
    }
}
