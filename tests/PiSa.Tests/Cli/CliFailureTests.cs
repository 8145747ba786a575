using System.Buffers.Binary;

namespace PiSa.Tests.Cli;

/// <summary>Bad input at the command line: one line, a non-zero exit, no stack trace, no partial output.</summary>
public sealed class CliFailureTests
{
    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;
    private static string GoodInput => Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png");

    private static string[] Upscale(string input, string output, string? sd = null, params string[] extra) =>
        ["upscale", input, "-o", output, "--model", sd ?? Sd, "--lora", Lora, "--process-size", "64", "--device", "cpu", .. extra];

    [Fact]
    public void Version_prints_and_exits_zero()
    {
        var r = PisaProcess.Run("--version");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", r.Stdout.Trim());
    }

    [Fact]
    public void Unknown_option_is_a_usage_error()
    {
        using var dir = new TempDir();
        var r = PisaProcess.Run([.. Upscale(GoodInput, dir.File("o.png")), "--no-such-option"]);
        PisaProcess.AssertOneLineError(r, "--no-such-option", exitCode: 2);
        Assert.False(File.Exists(dir.File("o.png")));
    }

    [Fact]
    public void Bad_choice_is_a_usage_error()
    {
        using var dir = new TempDir();
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. Upscale(GoodInput, dir.File("o.png")), "--mode", "fast"]), "fast", exitCode: 2);
    }

    [Fact]
    public void Missing_model_folder_points_to_the_weights_readme()
    {
        using var dir = new TempDir();
        var r = PisaProcess.Run(Upscale(GoodInput, dir.File("o.png"), sd: dir.File("nowhere")));
        PisaProcess.AssertOneLineError(r, "weights/README.md");
        Assert.Contains("nowhere", r.Stderr);
    }

    [Fact]
    public void Missing_model_file_is_named()
    {
        using var dir = new TempDir();
        string sd = dir.File("sd");
        CopyDirectory(Sd, sd);
        File.Delete(Path.Combine(sd, "unet", "diffusion_pytorch_model.safetensors"));
        var r = PisaProcess.Run(Upscale(GoodInput, dir.File("o.png"), sd: sd));
        PisaProcess.AssertOneLineError(r, Path.Combine("unet", "diffusion_pytorch_model.safetensors"));
        Assert.Contains("weights/README.md", r.Stderr);
    }

    [Fact]
    public void Weights_that_do_not_match_the_config_are_refused_by_name()
    {
        using var dir = new TempDir();
        string sd = dir.File("sd");
        CopyDirectory(Sd, sd);
        // Claim wider blocks than the weights have.
        string cfg = Path.Combine(sd, "unet", "config.json");
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"block_out_channels\": [\n    16,", "\"block_out_channels\": [\n    24,"));
        var r = PisaProcess.Run(Upscale(GoodInput, dir.File("o.png"), sd: sd));
        PisaProcess.AssertOneLineError(r, "unet");
        Assert.False(File.Exists(dir.File("o.png")));
    }

    public static IEnumerable<object[]> BadImages() =>
    [
        ["empty", Array.Empty<byte>()],
        ["garbage", "this is not an image"u8.ToArray()],
        ["truncated", File.ReadAllBytes(Path.Combine(FixturePaths.Tiny, "inputs", "lq_f.png"))[..60]],
        ["huge", HugePngHeader()],
    ];

    [Theory, MemberData(nameof(BadImages))]
    public void Bad_image_is_refused_and_an_existing_output_is_kept(string name, byte[] bytes)
    {
        using var dir = new TempDir();
        string input = dir.File(name + ".png"), output = dir.File("out.png");
        File.WriteAllBytes(input, bytes);
        File.WriteAllText(output, "previous result");
        var r = PisaProcess.Run(Upscale(input, output));
        Assert.Equal(1, r.ExitCode);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Contains(name + ".png", r.Stderr);
        Assert.Equal("previous result", File.ReadAllText(output));
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), f => f != input && f != output);
    }

    [Fact]
    public void Batch_skips_a_bad_input_completes_the_rest_and_fails_the_exit_code()
    {
        using var dir = new TempDir();
        string inputs = dir.File("in"), outputs = dir.File("out");
        Directory.CreateDirectory(inputs);
        File.Copy(GoodInput, Path.Combine(inputs, "a_good.png"));
        File.WriteAllBytes(Path.Combine(inputs, "b_bad.png"), "nope"u8.ToArray());
        File.Copy(Path.Combine(FixturePaths.Tiny, "inputs", "lq_c.png"), Path.Combine(inputs, "c_good.png"));
        var r = PisaProcess.Run(Upscale(inputs, outputs));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("b_bad.png", r.Stderr);
        Assert.True(File.Exists(Path.Combine(outputs, "a_good.png")));
        Assert.True(File.Exists(Path.Combine(outputs, "c_good.png")));
        Assert.False(File.Exists(Path.Combine(outputs, "b_bad.png")));
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Theory]
    [InlineData("fused", "1e30")]
    [InlineData("adjustable", "3e38")]
    public void Non_finite_result_is_an_error_naming_the_stage_and_writes_no_image(string mode, string lambdaSem)
    {
        // Such LoRA scales overflow float32 in the UNet (fused: everywhere, NaN after the next GroupNorm; adjustable:
        // a few values), which used to come out as a flat grey image with exit code 0.
        using var dir = new TempDir();
        string output = dir.File("out.png");
        File.WriteAllText(output, "previous result");
        var r = PisaProcess.Run([.. Upscale(GoodInput, output), "--mode", mode, "--lambda-sem", lambdaSem]);
        Assert.Equal(1, r.ExitCode);
        var error = Assert.Single(r.StderrLines, l => l.StartsWith("pisa: error:"));
        Assert.Contains("lq_a.png", error);
        Assert.Contains("the unet stage produced", error);
        Assert.Contains("non-finite", error);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("distance", r.Stderr);   // no fused-mode distance notice computed from NaN
        Assert.Equal("previous result", File.ReadAllText(output));
        Assert.Single(Directory.GetFiles(dir.Path));   // no temporary or partial file either
    }

    [Fact]
    public void Inspect_refuses_a_lying_safetensors_header()
    {
        using var dir = new TempDir();
        string path = dir.File("lie.safetensors");
        var header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000],\"data_offsets\":[0,4000]}}"u8.ToArray();
        var bytes = new byte[8 + header.Length + 16];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        PisaProcess.AssertOneLineError(PisaProcess.Run("inspect", path), "lie.safetensors");
    }

    [Fact]
    public void Inspect_and_convert_work_on_the_fixture_checkpoint()
    {
        using var dir = new TempDir();
        var inspect = PisaProcess.Run("inspect", Lora);
        Assert.Equal(0, inspect.ExitCode);
        Assert.Contains("rank", inspect.Stdout, StringComparison.OrdinalIgnoreCase);
        var convert = PisaProcess.Run("convert", Lora, "-o", dir.File("p.safetensors"));
        Assert.Equal(0, convert.ExitCode);
        Assert.Equal(0, PisaProcess.Run("inspect", dir.File("p.safetensors")).ExitCode);
    }

    /// <summary>A PNG whose header claims 60000 x 60000 pixels: must be refused before any allocation.</summary>
    private static byte[] HugePngHeader()
    {
        var png = File.ReadAllBytes(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"));
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), 60000);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), 60000);
        // Fix the IHDR CRC so only the size is wrong.
        uint crc = Crc32(png.AsSpan(12, 17));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), crc);
        return png;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFF;
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
    }
}

/// <summary>`pisa doctor` and `pisa selftest` as a user runs them on a machine without a GPU.</summary>
public sealed class CliDiagnosticsTests
{
    [Fact]
    public void Doctor_reports_without_a_gpu_and_never_crashes()
    {
        var r = PisaProcess.Run("doctor");
        Assert.Contains("GPU:", r.Stdout);
        Assert.Contains("NVRTC:", r.Stdout);
        Assert.Contains("doctor:", r.Stdout);
        Assert.DoesNotContain("   at ", r.Stdout + r.Stderr);
        if (PiSa.Cuda.KernelCompiler.Available)
        {
            // Every kernel file compiles for both CI targets, without spills.
            var kernelLines = r.Stdout.Split('\n').Where(l => l.Contains(".cu (sm_")).ToList();
            Assert.NotEmpty(kernelLines);
            Assert.All(kernelLines, l => Assert.Matches(@":\s+ok,", l));
            Assert.All(kernelLines, l => Assert.Contains("no spills", l));
        }
        Assert.Equal(PiSa.Cuda.CudaAvailability.Probe().Ok ? 0 : 1, r.ExitCode);
    }

    [Fact]
    public void Selftest_on_the_cpu_passes_every_op_and_golden_case()
    {
        var r = PisaProcess.Run("selftest", "--device", "cpu", "--fixtures", FixturePaths.Tiny);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("selftest: ", r.Stdout);
        Assert.Matches(@"selftest: \d+ passed, 0 failed", r.Stdout);
        Assert.Contains("pass  f_default_vaetiled", r.Stdout);
    }

    [Fact]
    public void Device_cuda_without_a_gpu_is_a_clear_error_and_auto_falls_back()
    {
        if (PiSa.Cuda.CudaAvailability.Probe().Ok) return; // this test is about machines without a GPU
        using var dir = new TempDir();
        string[] common = ["upscale", Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"), "-o", dir.File("o.png"),
            "--model", Path.Combine(FixturePaths.Tiny, "sd"), "--lora", Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"), "--process-size", "64"];
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. common, "--device", "cuda"]), "--device cuda");
        var auto = PisaProcess.Run([.. common, "--device", "auto"]);
        Assert.Equal(0, auto.ExitCode);
        Assert.Contains("running on the CPU", auto.Stderr);
    }
}

/// <summary>The selftest's random-model comparison, at the tiny configs so it runs here.</summary>
public sealed class SelftestRandomModelTests
{
    [Fact]
    public void Random_model_check_runs_end_to_end_and_passes_cpu_against_cpu()
    {
        var r = PisaProcess.Run("selftest", "--device", "cpu", "--no-large", "--fixtures", FixturePaths.Tiny,
            "--random-model", "64", "--config-dir", Path.Combine(FixturePaths.Tiny, "sd"));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("pass  random model unet_pred: relative L2 0.00E+000", r.Stdout);
        Assert.Contains("pass  random model decoded", r.Stdout);
    }
}
