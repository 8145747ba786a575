using System.Diagnostics;
using System.Text.Json;

namespace PiSa.Tests.Cli;

/// <summary>Issue 10, items 6-7 for the other commands: inspect, convert, selftest, through the `pisa` process.</summary>
public sealed class CliCommandsTests
{
    [Fact]
    public void Inspect_names_a_non_checkpoint_as_such_and_convert_refuses_a_wrong_extension()
    {
        using var dir = new TempDir();
        string junk = dir.File("junk.bin");
        File.WriteAllBytes(junk, [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0]);
        PisaProcess.AssertOneLineError(PisaProcess.Run("inspect", junk), "not a PyTorch checkpoint or safetensors file");
        PisaProcess.AssertOneLineError(PisaProcess.Run("convert", Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"), "-o", dir.File("x.pkl")),
            ".safetensors", exitCode: 2);
        Assert.False(File.Exists(dir.File("x.pkl")));
    }

    [Fact]
    public void Inspect_takes_a_model_folder_with_a_summary_first_and_prints_json()
    {
        string sd = Path.Combine(FixturePaths.Tiny, "sd");
        var text = PisaProcess.Run("inspect", sd);
        Assert.Equal(0, text.ExitCode);
        var lines = text.Stdout.Split('\n');
        Assert.StartsWith($"{sd}: 3 weight file(s)", lines[0]);
        Assert.Contains(lines, l => l.Contains(Path.Combine("unet", "diffusion_pytorch_model.safetensors") + ": safetensors"));

        var json = PisaProcess.Run("inspect", sd, "--json");
        Assert.Equal(0, json.ExitCode);
        using var doc = JsonDocument.Parse(json.Stdout);
        var files = doc.RootElement.GetProperty("files");
        Assert.Equal(3, files.GetArrayLength());
        long sum = files.EnumerateArray().Sum(f => f.GetProperty("parameters").GetInt64());
        Assert.Equal(sum, doc.RootElement.GetProperty("parameters").GetInt64());
        Assert.True(sum > 0);

        var pisa = PisaProcess.Run("inspect", Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"), "--json");
        using var p = JsonDocument.Parse(pisa.Stdout);
        Assert.Equal(4, p.RootElement.GetProperty("files")[0].GetProperty("pisa").GetProperty("rank_pix").GetInt32());
    }

    [Fact]
    public async Task Selftest_outside_the_repository_says_where_the_fixtures_are_expected_and_cpu_says_it_compares_itself()
    {
        using var dir = new TempDir();
        // Run the pisa.dll copied outside the repository, from a folder outside it.
        string copy = dir.File("bin");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(AppContext.BaseDirectory, "*.dll").Concat(Directory.GetFiles(AppContext.BaseDirectory, "*.json")))
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir.Path };
        foreach (var a in new[] { Path.Combine(copy, "pisa.dll"), "selftest", "--device", "cpu", "--no-large" }) psi.ArgumentList.Add(a);
        using var proc = Process.Start(psi)!;
        var stdout = proc.StandardOutput.ReadToEndAsync();
        var stderr = proc.StandardError.ReadToEndAsync();
        Assert.True(proc.WaitForExit(300_000));
        string o = await stdout;
        await stderr;
        Assert.Contains("golden cases NOT run", o);
        Assert.Contains("--fixtures", o);
        Assert.Contains(Path.Combine("tests", "fixtures", "pisa-tiny"), o);
        Assert.Contains("compare it with itself", o);
    }

    [Fact]
    public void Bench_times_the_grid_against_separate_runs_labels_cold_runs_and_writes_json_with_provenance()
    {
        using var dir = new TempDir();
        string json = dir.File("bench.json");
        string[] common = ["bench", "--random-weights", "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"), "--sizes", "64", "--runs", "1", "--warmup", "0", "--device", "cpu"];
        // The JSON path is checked before any model is built.
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. common, "--json", dir.File("missing/bench.json")]), "does not exist");

        var r = PisaProcess.Run([.. common, "--grid", "2", "--json", json]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("run 1 is cold", r.Stdout);
        Assert.Contains("text (run 1 uncached)", r.Stdout);
        Assert.Contains("grid 2x2 at 64x64", r.Stdout);
        Assert.Contains("4 separate adjustable runs", r.Stdout);
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), f => PiSa.Engine.Formats.AtomicFile.IsTemporary(f));

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Matches(@"^\d+\.\d+\.\d+", root.GetProperty("version").GetString());
        Assert.True(root.TryGetProperty("commit", out _));
        Assert.True(DateTime.TryParse(root.GetProperty("date_utc").GetString(), out _));
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        Assert.True(root.GetProperty("first_run_cold").GetBoolean());
        Assert.Equal(3, root.GetProperty("load_average_before").GetArrayLength());
        Assert.True(root.GetProperty("load_average_before")[0].GetDouble() >= 0);
        var grid = Assert.Single(root.GetProperty("grids").EnumerateArray());
        Assert.Equal(2, grid.GetProperty("n").GetInt32());
        Assert.True(grid.GetProperty("grid").GetProperty("median_ms").GetDouble() > 0);
        Assert.Equal(4 * grid.GetProperty("one_adjustable_run").GetProperty("median_ms").GetDouble(), grid.GetProperty("separate_runs_ms").GetDouble(), 6);
    }

    [Fact]
    public void Gpu_selects_a_cuda_device_and_is_refused_with_the_cpu()
    {
        using var dir = new TempDir();
        string[] args = ["upscale", Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"), "-o", dir.File("o.png"), "--model", Path.Combine(FixturePaths.Tiny, "sd"),
            "--lora", Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"), "--process-size", "64"];
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. args, "--device", "cpu", "--gpu", "1"]), "--gpu chooses a CUDA device: not with --device cpu", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. args, "--device", "ptx", "--gpu", "0"]), "not with --device ptx", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. args, "--device", "cpu", "--gpu", "-1"]), "--gpu must be 0 or more", exitCode: 2);
        if (PiSa.Cuda.CudaAvailability.Probe().Ok) return;   // below: machines without a GPU
        // A named GPU that is not there fails at once (no CPU fallback under --device auto), saying there is none.
        foreach (var device in new[] { "cuda", "auto" })
        {
            var r = PisaProcess.Run([.. args, "--device", device, "--gpu", "7"]);
            PisaProcess.AssertOneLineError(r, "--gpu 7: no CUDA device is usable on this machine");
            Assert.Contains("pisa doctor", r.Stderr);
        }
        Assert.False(File.Exists(dir.File("o.png")));
    }

    [Fact]
    public void Doctor_says_which_cuda_devices_there_are()
    {
        var r = PisaProcess.Run("doctor");
        if (PiSa.Cuda.CudaAvailability.Probe().Ok) Assert.Matches(@"GPU:\s+.*compute capability", r.Stdout);
        else Assert.Matches(@"(?m)^GPU:\s+none: " + System.Text.RegularExpressions.Regex.Escape(PiSa.Cuda.CudaAvailability.Probe().Reason) + "$", r.Stdout);
    }

    [Fact]
    public void Doctor_says_whether_cuda_graphs_are_on()
    {
        var psi = PisaProcess.StartInfo("doctor");
        psi.Environment.Remove("PISA_CUDA_GRAPHS");
        Assert.Matches(@"(?m)^CUDA graphs:\s+off \(set PISA_CUDA_GRAPHS=1", PisaProcess.Run(psi).Stdout);
        psi.Environment["PISA_CUDA_GRAPHS"] = "1";
        Assert.Matches(@"(?m)^CUDA graphs:\s+on \(PISA_CUDA_GRAPHS=1\)", PisaProcess.Run(psi).Stdout);
    }
}
