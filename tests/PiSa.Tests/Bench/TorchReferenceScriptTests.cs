using System.Diagnostics;
using System.Text.Json;
using PiSa.Tests.Cli;

namespace PiSa.Tests.Bench;

/// <summary>
/// bench/reference/pisa_torch_gpu.py's CPU-runnable parts: argument checks (plain python3), and, where a python3 with
/// torch and the diffusers 0.25 source in bench/reference/.vendor are present, a CPU smoke on the tiny fixture model:
/// `pisa export-random` writes our weights and intermediates, the script loads the weights into diffusers' modules and
/// must land within 1e-2 relative L2 of our CPU output at every stage. The GPU modes (fp16, torch.compile) are not
/// testable here. About 10 s.
/// </summary>
public sealed class TorchReferenceScriptTests
{
    private static readonly string Script = Path.Combine(FixturePaths.RepoRoot, "bench", "reference", "pisa_torch_gpu.py");
    private static readonly string Vendor = Path.Combine(FixturePaths.RepoRoot, "bench", "reference", ".vendor", "src");

    internal static (int Exit, string Out) Python(string python, int seconds, params string[] args)
    {
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PYTHONPATH"] = Path.Combine(FixturePaths.RepoRoot, "bench", "reference", "stubs") + Path.PathSeparator + Vendor;
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { return (-1, $"{python} not found"); }
        using (p)
        {
            var o = p.StandardOutput.ReadToEndAsync();
            var e = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(seconds * 1000)) { p.Kill(true); throw new TimeoutException($"{python} did not finish in {seconds} s"); }
            return (p.ExitCode, o.Result + e.Result);
        }
    }

    /// <summary>A python3 that imports torch (Debian's python3-torch lives under /usr/bin/python3), or null.</summary>
    internal static string? TorchPython()
    {
        foreach (var py in new[] { "/usr/bin/python3", "python3" })
            if (Python(py, 60, "-c", "import torch").Exit == 0) return py;
        return null;
    }

    [Fact]
    public void Bad_arguments_are_refused_before_torch_is_imported()
    {
        string py = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        using var dir = new TempDir();
        var (exit, output) = Python(py, 60, Script, "--data", dir.Path, "--device", "cpu", "--dtype", "fp32");
        if (exit == -1) return;   // no python at all: nothing of the script can run on this machine
        Assert.Equal(2, exit);
        Assert.Contains("unet/config.json missing", output);
        (exit, output) = Python(py, 60, Script, "--data", dir.Path, "--device", "cpu", "--dtype", "fp16");
        Assert.Equal(2, exit);
        Assert.Contains("--dtype fp16 needs --device cuda", output);
        (exit, output) = Python(py, 60, Script, "--data", dir.Path, "--modes", "eager,jit");
        Assert.Equal(2, exit);
        Assert.Contains("unknown mode", output);
    }

    /// <summary>Skipped (and shown as skipped) without a python3 that imports torch or without the vendored diffusers.</summary>
    public sealed class TorchReferenceFactAttribute : FactAttribute
    {
        public TorchReferenceFactAttribute()
        {
            if (!Directory.Exists(Path.Combine(Vendor, "diffusers"))) Skip = $"no {Vendor}/diffusers (bench/gpu-prep.sh puts diffusers 0.25 there)";
            else if (TorchPython() is null) Skip = "no python3 that imports torch (Debian: apt-get install python3-torch)";
        }
    }

    [TorchReferenceFact]
    public void On_the_cpu_the_official_modules_on_our_exported_weights_match_our_output()
    {
        string py = TorchPython()!;
        using var dir = new TempDir();
        string data = dir.File("ref");
        var r = PisaProcess.Run("export-random", data, "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"), "--size", "64", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        string json = dir.File("ref.json");
        var (exit, output) = Python(py, 300, Script, "--data", data, "--device", "cpu", "--dtype", "fp32", "--warmup", "0", "--runs", "1", "--json", json);
        Assert.True(exit == 0, output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var eager = doc.RootElement.GetProperty("modes").GetProperty("eager");
        foreach (var stage in new[] { "lq_latent", "unet_pred", "hq_latent", "decoded" })
        {
            double e = eager.GetProperty("rel_l2_to_ours").GetProperty(stage).GetDouble();
            // fp16-rounded weights on the torch side, float32 on ours: about 1e-3; a wrong stage is O(1)
            Assert.True(e < 1e-2, $"{stage}: relative L2 {e:E2} to ours\n{output}");
        }
    }
}
