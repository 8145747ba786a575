using System.CommandLine;
using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Bench;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa profile [--device cuda|ptx] [--random-weights [--config-dir DIR] | --model SD_DIR --lora CHECKPOINT] [--size N]
/// [--mode M] [--trace FILE.json]` (a contract outside checks use): one image of SPEC steps 6-10 after one warm-up,
/// every kernel and GEMM grouped by stage and block: calls, total and mean time, share and TFLOP/s on CUDA (events),
/// the interpreter's counters on ptx; the launch count per image; NVTX ranges per stage and block on CUDA; a Chrome trace.
/// </summary>
public static class ProfileCommand
{
    public static Command Build()
    {
        var device = new Option<string>("--device") { Description = "cuda (event times per kernel) or ptx (the interpreter's counters per kernel)", DefaultValueFactory = _ => "cuda" };
        device.AcceptOnlyFromAmong("cuda", "ptx");
        var model = new Option<string?>("--model") { Description = "SD 2.1-base folder in diffusers layout (with --lora)" };
        var lora = new Option<string?>("--lora") { Description = "PiSA-SR checkpoint (with --model)" };
        var random = new Option<bool>("--random-weights") { Description = "random weights instead of --model/--lora (same arithmetic, no download)" };
        var configDir = new Option<string?>("--config-dir") { Description = "with --random-weights: folder with unet/, vae/, text_encoder/config.json (default: tests/fixtures/sd21-base)" };
        var size = new Option<int>("--size") { Description = "output size in pixels (a multiple of 64; input = size/4)", DefaultValueFactory = _ => 512 };
        var mode = new Option<string>("--mode") { Description = "default, adjustable or fused", DefaultValueFactory = _ => "default" };
        mode.AcceptOnlyFromAmong("default", "adjustable", "fused");
        var trace = new Option<string?>("--trace") { Description = "also write a Chrome trace (chrome://tracing, Perfetto) to this JSON file" };
        var cmd = new Command("profile", "Per-kernel profile of one image: CUDA event times, or the PTX interpreter's counters.")
        {
            device, model, lora, random, configDir, size, mode, trace,
        };
        cmd.SetAction(r => Run(r.GetValue(device)!, r.GetValue(random), r.GetValue(configDir), r.GetValue(model), r.GetValue(lora),
            r.GetValue(size), r.GetValue(mode) switch { "adjustable" => LoraMode.Adjustable, "fused" => LoraMode.Fused, _ => LoraMode.Default },
            r.GetValue(trace)));
        return cmd;
    }

    public static int Run(string device, bool randomWeights, string? configDir, string? modelDir, string? loraPath, int size, LoraMode mode, string? tracePath)
    {
        if (randomWeights == (modelDir != null || loraPath != null))
            throw new PisaException("pisa profile needs either --model SD_DIR --lora CHECKPOINT, or --random-weights [--config-dir DIR]");
        if (!randomWeights && (modelDir == null || loraPath == null))
            throw new PisaException("pisa profile: --model and --lora go together");
        if (size < 64 || size % 64 != 0) throw new PisaException($"--size {size} is not a positive multiple of 64");
        if (tracePath != null && Directory.Exists(tracePath)) throw new PisaException($"--trace {tracePath} is a folder");

        using var ops = BackendFactory.Create(device, notice => Console.Error.WriteLine($"pisa: {notice}"));
        var cuda = ops as CudaOps ?? throw new PisaException($"pisa profile: --device {device} did not give the CUDA backend");
        var (model, weights) = BenchCommand.LoadModel(ops, randomWeights, configDir, modelDir, loraPath);
        using var _ = model;
        var pipeline = new UpscalePipeline(model);
        var o = new UpscaleOptions { Mode = mode, Upscale = 4, ProcessSize = size };
        o.Validate();
        var x = Preprocess.Run(BenchRunner.RandomImage(size / 4, size / 4, 1234), o.Upscale, o.ProcessSize).ModelInput;

        Console.Error.WriteLine($"pisa profile: warm-up run ({size}x{size}, {ops.Name})");
        pipeline.RunLatentPath(x, o);   // compiles kernels, uploads weights, caches the prompt and its K/V
        Console.Error.WriteLine("pisa profile: profiled run");
        string table;
        using (var profiler = new KernelProfiler(cuda))
        {
            pipeline.RunLatentPath(x, o);
            profiler.Complete();
            table = profiler.Format();
            if (tracePath != null) profiler.WriteTrace(tracePath);
        }
        var w = Console.Out;
        w.WriteLine($"pisa profile: one image, output {size}x{size} (input {size / 4}x{size / 4}, x4), mode {mode.ToString().ToLowerInvariant()}, after one warm-up");
        w.WriteLine($"weights: {weights}");
        w.WriteLine($"backend: {ops.Name} ({cuda.Runtime.Arch})");
        w.Write(table);
        if (tracePath != null) w.WriteLine($"trace: {tracePath}");
        return Program.ExitOk;
    }
}
