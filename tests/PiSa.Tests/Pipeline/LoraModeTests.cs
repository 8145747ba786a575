using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Tests.Pipeline;

/// <summary>The three LoRA modes against each other on the tiny model (CPU backend).</summary>
public sealed class LoraModeTests
{
    private static (UpscaleResult Result, UpscalePipeline Pipeline) Run(PisaModel model, LoraMode mode, float lp, float ls)
    {
        var pipeline = new UpscalePipeline(model);
        var input = ImageIO.Load(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"));
        var options = new UpscaleOptions { Mode = mode, LambdaPix = lp, LambdaSem = ls, ProcessSize = 64 };
        return (pipeline.Run(input, options, keepTensors: true), pipeline);
    }

    private static PisaModel Load(CpuOps ops) =>
        TinyFixtureModel.Load(ops);

    [Fact]
    public void All_three_modes_agree_at_lambda_one_one()
    {
        using var ops = new CpuOps();
        using var model = Load(ops);
        var d = Run(model, LoraMode.Default, 1, 1).Result.Tensors!["unet_pred"].Data;
        var a = Run(model, LoraMode.Adjustable, 1, 1).Result.Tensors!["unet_pred"].Data;
        var f = Run(model, LoraMode.Fused, 1, 1).Result.Tensors!["unet_pred"].Data;
        Assert.True(Metrics.RelativeL2(a, d) < 1e-5, $"adjustable(1,1) vs default: {Metrics.RelativeL2(a, d):E2}");
        Assert.True(Metrics.RelativeL2(f, d) < 1e-5, $"fused(1,1) vs default: {Metrics.RelativeL2(f, d):E2}");
    }

    [Fact]
    public void Fused_mode_off_one_one_reports_its_distance_to_the_exact_mode()
    {
        using var ops = new CpuOps();
        using var model = Load(ops);
        var (fused, pipeline) = Run(model, LoraMode.Fused, 0.5f, 1.2f);
        var exact = Run(model, LoraMode.Adjustable, 0.5f, 1.2f).Result;
        double distance = Metrics.RelativeL2(fused.Tensors!["unet_pred"].Data, exact.Tensors!["unet_pred"].Data);
        var notice = Assert.Single(pipeline.Notices);
        Assert.Contains("fused mode", notice);
        Assert.Contains("exact adjustable mode", notice);
        // The fused mode is a different function: the distance is real and the notice states it.
        Assert.True(distance > 1e-4, $"fused and exact modes unexpectedly equal ({distance:E2})");
        Assert.Contains(distance.ToString("G3"), notice);
    }
}
