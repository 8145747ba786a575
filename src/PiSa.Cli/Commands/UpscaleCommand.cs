using System.CommandLine;
using System.Globalization;
using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa upscale INPUT [INPUT...] -o OUTPUT --model SD_DIR --lora CHECKPOINT [options]`. The model loads once;
/// OUTPUT is a file for one input and a folder for several (a folder input means all its images). In a batch
/// a bad input is reported and skipped, the rest complete, and the exit code says something failed.
/// </summary>
public static class UpscaleCommand
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tga"];

    public static Command Build()
    {
        var inputs = new Argument<string[]>("INPUT") { Description = "input image(s) or folder(s) of images (PNG, JPEG, BMP, TGA)", Arity = ArgumentArity.OneOrMore };
        // The variadic INPUT would otherwise swallow a mistyped option as a file name.
        inputs.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.StartsWith('-') && !File.Exists(token.Value) && !Directory.Exists(token.Value))
                    result.AddError($"Unrecognized command or argument '{token.Value}'.");
        });
        var output = new Option<string>("--output", "-o") { Description = "output file (one input) or folder (several)", Required = true };
        var model = new Option<string>("--model") { Description = "SD 2.1-base folder in diffusers layout", Required = true };
        var lora = new Option<string>("--lora") { Description = "PiSA-SR checkpoint: pisa_sr.pkl or pisa_sr.safetensors", Required = true };
        var mode = new Option<string>("--mode") { Description = "default (one pass, W_pisa), adjustable (official two-pass), fused (one pass, approximate)", DefaultValueFactory = _ => "default" };
        mode.AcceptOnlyFromAmong("default", "adjustable", "fused");
        var lambdaPix = new Option<float>("--lambda-pix") { Description = "pixel-level (fidelity) scale", DefaultValueFactory = _ => 1f };
        var lambdaSem = new Option<float>("--lambda-sem") { Description = "semantic-level (detail) scale", DefaultValueFactory = _ => 1f };
        var prompt = new Option<string>("--prompt") { Description = "text prompt (default empty, as the official script)", DefaultValueFactory = _ => "" };
        var colorFix = new Option<string>("--color-fix") { Description = "colour correction against the input", DefaultValueFactory = _ => "adain" };
        colorFix.AcceptOnlyFromAmong("adain", "wavelet", "none");
        var upscale = new Option<int>("--upscale") { Description = "scale factor", DefaultValueFactory = _ => 4 };
        var processSize = new Option<int>("--process-size") { Description = "inputs smaller than process-size/upscale are first enlarged (official resize_flag path)", DefaultValueFactory = _ => 512 };
        var latentTile = new Option<int>("--latent-tile") { Description = "UNet tile size in latent pixels", DefaultValueFactory = _ => 96 };
        var latentOverlap = new Option<int>("--latent-overlap") { Description = "UNet tile overlap in latent pixels", DefaultValueFactory = _ => 32 };
        var vaeEncTile = new Option<int>("--vae-encoder-tile") { Description = "VAE encoder tile size in pixels", DefaultValueFactory = _ => 1024 };
        var vaeDecTile = new Option<int>("--vae-decoder-tile") { Description = "VAE decoder tile size in latent pixels", DefaultValueFactory = _ => 224 };
        var device = DeviceOption.Create();
        var dump = new Option<string?>("--dump-tensors") { Description = "write the intermediates (as the golden fixtures name them) to this .safetensors file" };
        var maxMemory = new Option<string?>("--max-memory") { Description = "memory budget, e.g. 12G (default: the memory available at start); a run estimated above it is refused, or tiled to fit when no tile option is given" };

        var cmd = new Command("upscale", "Upscale images with PiSA-SR.")
        {
            inputs, output, model, lora, mode, lambdaPix, lambdaSem, prompt, colorFix, upscale, processSize,
            latentTile, latentOverlap, vaeEncTile, vaeDecTile, device, dump, maxMemory,
        };
        cmd.SetAction(r =>
        {
            var options = new UpscaleOptions
            {
                Mode = r.GetValue(mode) switch { "adjustable" => LoraMode.Adjustable, "fused" => LoraMode.Fused, _ => LoraMode.Default },
                LambdaPix = r.GetValue(lambdaPix),
                LambdaSem = r.GetValue(lambdaSem),
                Prompt = r.GetValue(prompt) ?? "",
                ColorFix = r.GetValue(colorFix) switch { "wavelet" => ColorFixMethod.Wavelet, "none" => ColorFixMethod.None, _ => ColorFixMethod.AdaIn },
                Upscale = r.GetValue(upscale),
                ProcessSize = r.GetValue(processSize),
                LatentTile = r.GetValue(latentTile),
                LatentOverlap = r.GetValue(latentOverlap),
                VaeEncoderTile = r.GetValue(vaeEncTile),
                VaeDecoderTile = r.GetValue(vaeDecTile),
            };
            bool autoTiling = new Option[] { latentTile, latentOverlap, vaeEncTile, vaeDecTile }.All(t => r.GetResult(t) is null or { Implicit: true });
            return Run(r.GetValue(inputs)!, r.GetValue(output)!, r.GetValue(model)!, r.GetValue(lora)!, options,
                r.GetValue(device)!, r.GetValue(dump), r.GetValue(maxMemory), autoTiling);
        });
        return cmd;
    }

    public static int Run(string[] inputArgs, string output, string modelDir, string loraPath, UpscaleOptions options,
        string device, string? dumpPath, string? maxMemory = null, bool autoTiling = false)
    {
        options.Validate();
        var budget = MemoryBudget.Resolve(maxMemory); // before the model takes any of it
        var inputs = ExpandInputs(inputArgs);
        bool many = inputs.Count > 1 || inputArgs.Any(Directory.Exists);
        var targets = OutputPaths(inputs, output, many);

        using var ops = BackendFactory.Create(device, notice => Console.Error.WriteLine($"pisa: {notice}"));
        var loadStart = System.Diagnostics.Stopwatch.GetTimestamp();
        using var model = PisaModel.Load(modelDir, loraPath, ops);
        double loadMs = System.Diagnostics.Stopwatch.GetElapsedTime(loadStart).TotalMilliseconds;
        var pipeline = new UpscalePipeline(model);
        var progress = new ProgressLine(inputs.Count, enabled: inputs.Count > 1);

        int failed = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            progress.Start(i, Path.GetFileName(inputs[i]));
            try
            {
                var image = ImageIO.Load(inputs[i]);
                var plan = MemoryPlanner.Plan(ModelFootprint.Of(model), ops.Name, image.Width, image.Height, options, budget, autoTiling,
                    n => { progress.Interrupt(); Console.Error.WriteLine($"pisa: {Path.GetFileName(inputs[i])}: {n}"); });
                var result = pipeline.Run(image, plan.Options, keepTensors: dumpPath != null);
                pipeline.Timer.Time("save", () => ImageIO.Save(result.Output, targets[i]));
                if (dumpPath != null && result.Tensors != null)
                    SafetensorsWriter.Write(DumpPathFor(dumpPath, inputs[i], many), result.Tensors);
            }
            catch (PisaException e)
            {
                failed++;
                progress.Interrupt();
                Console.Error.WriteLine($"pisa: error: {Path.GetFileName(inputs[i])}: {Program.OneLine(e.Message)}");
            }
        }
        progress.Finish();
        foreach (var n in pipeline.Notices) Console.Error.WriteLine($"pisa: {n}");
        StageTable.Print(Console.Error, pipeline.Timer, loadMs, inputs.Count - failed, ops.Name);
        if (failed > 0)
        {
            Console.Error.WriteLine($"pisa: {failed} of {inputs.Count} input(s) failed");
            return Program.ExitFailed;
        }
        return Program.ExitOk;
    }

    /// <summary>Files as given; folders expand to their images, sorted by name.</summary>
    public static List<string> ExpandInputs(IEnumerable<string> args)
    {
        var list = new List<string>();
        foreach (var a in args)
        {
            if (Directory.Exists(a))
            {
                var files = Directory.EnumerateFiles(a)
                    .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                    .OrderBy(f => f, StringComparer.Ordinal).ToList();
                if (files.Count == 0) throw new PisaException($"input folder {a} holds no PNG, JPEG, BMP or TGA images");
                list.AddRange(files);
            }
            else if (File.Exists(a)) list.Add(a);
            else throw new PisaException($"input not found: {a}");
        }
        return list;
    }

    /// <summary>One input: OUTPUT is the file (or an existing folder to write into). Several: OUTPUT is a folder
    /// (created) and each result keeps its input's file name.</summary>
    public static List<string> OutputPaths(List<string> inputs, string output, bool many)
    {
        if (!many && !Directory.Exists(output))
        {
            ImageIO.FormatFromPath(output); // refuses an unknown extension before any work
            return [output];
        }
        if (File.Exists(output)) throw new PisaException($"output {output} is a file, but several inputs need an output folder");
        Directory.CreateDirectory(output);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var paths = new List<string>();
        foreach (var input in inputs)
        {
            string name = Path.GetFileName(input);
            if (!IsWritableFormat(name)) name = Path.ChangeExtension(name, ".png");
            if (!names.Add(name)) throw new PisaException($"two inputs would both be written to {Path.Combine(output, name)}");
            paths.Add(Path.Combine(output, name));
        }
        return paths;
    }

    private static bool IsWritableFormat(string name)
    {
        try { ImageIO.FormatFromPath(name); return true; }
        catch (PisaException) { return false; }
    }

    private static string DumpPathFor(string dumpPath, string input, bool many) =>
        many ? Path.Combine(Path.GetDirectoryName(dumpPath) ?? "", $"{Path.GetFileNameWithoutExtension(dumpPath)}.{Path.GetFileNameWithoutExtension(input)}.safetensors")
             : dumpPath;
}

/// <summary>A one-line text progress bar on stderr for batches.</summary>
internal sealed class ProgressLine(int total, bool enabled)
{
    private bool _open;

    public void Start(int index, string name)
    {
        if (!enabled) return;
        const int width = 24;
        int filled = total == 0 ? width : index * width / total;
        Console.Error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {index}/{total} {name,-32}");
        _open = true;
    }

    public void Interrupt()
    {
        if (_open) Console.Error.WriteLine();
        _open = false;
    }

    public void Finish()
    {
        if (!enabled) return;
        Console.Error.WriteLine($"\r[{new string('#', 24)}] {total}/{total} done{new string(' ', 32)}");
        _open = false;
    }
}

/// <summary>The per-stage time table printed after a run.</summary>
internal static class StageTable
{
    public static void Print(TextWriter w, StageTimer timer, double loadMs, int images, string backend)
    {
        w.WriteLine($"stage times on {backend} ({images} image(s); model load {loadMs.ToString("F0", CultureInfo.InvariantCulture)} ms):");
        w.WriteLine($"  {"stage",-14} {"total ms",10} {"per image",10}");
        foreach (var (stage, total, count) in timer.Stages)
            w.WriteLine($"  {stage,-14} {total.ToString("F1", CultureInfo.InvariantCulture),10} {(total / Math.Max(1, images)).ToString("F1", CultureInfo.InvariantCulture),10}");
        w.WriteLine($"  {"total",-14} {timer.TotalMs.ToString("F1", CultureInfo.InvariantCulture),10} {(timer.TotalMs / Math.Max(1, images)).ToString("F1", CultureInfo.InvariantCulture),10}");
    }
}
