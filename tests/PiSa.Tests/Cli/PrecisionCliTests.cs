using System.Diagnostics;

namespace PiSa.Tests.Cli;

/// <summary>`--precision bf16` where it cannot run: one line, exit 2, no output, for upscale and bench alike.</summary>
public sealed class PrecisionCliTests
{
    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;
    private static string Input => Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png");

    private static PisaProcess.Result Run(bool bf16Off, params string[] args)
    {
        var psi = PisaProcess.StartInfo(args);
        // The refusal a CPU without AVX512-BF16 gives, provoked on any CPU.
        if (bf16Off) psi.Environment[Engine.Backends.Cpu.Bf16.Bf16Support.OverrideVariable] = "off";
        else psi.Environment.Remove(Engine.Backends.Cpu.Bf16.Bf16Support.OverrideVariable);
        return PisaProcess.Run(psi);
    }

    [Fact]
    public void Bf16_on_a_cpu_without_avx512_bf16_is_a_usage_error()
    {
        using var dir = new TempDir();
        string output = dir.File("o.png");
        var r = Run(true, "upscale", Input, "-o", output, "--model", Sd, "--lora", Lora, "--device", "cpu", "--precision", "bf16");
        PisaProcess.AssertOneLineError(r, "--precision bf16: disabled by PISA_CPU_BF16=off", exitCode: 2);
        Assert.False(File.Exists(output));
        var b = Run(true, "bench", "--random-weights", "--config-dir", Sd, "--sizes", "64", "--runs", "1", "--warmup", "0", "--device", "cpu", "--precision", "bf16");
        PisaProcess.AssertOneLineError(b, "--precision bf16: disabled by PISA_CPU_BF16=off", exitCode: 2);
    }

    [Theory]
    [InlineData("cuda")]
    [InlineData("ptx")]
    [InlineData("auto")]
    public void Bf16_on_another_device_is_a_usage_error(string device)
    {
        using var dir = new TempDir();
        string output = dir.File("o.png");
        var r = Run(false, "upscale", Input, "-o", output, "--model", Sd, "--lora", Lora, "--device", device, "--precision", "bf16");
        PisaProcess.AssertOneLineError(r, $"--precision bf16 runs on the CPU backend only: add --device cpu (not --device {device})", exitCode: 2);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void A_bad_precision_is_a_usage_error()
    {
        using var dir = new TempDir();
        var r = Run(false, "upscale", Input, "-o", dir.File("o.png"), "--model", Sd, "--lora", Lora, "--device", "cpu", "--precision", "fp8");
        PisaProcess.AssertOneLineError(r, "'fp8' is not a valid value for --precision", exitCode: 2);
    }
}
