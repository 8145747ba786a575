using System.CommandLine;
using System.Globalization;
using PiSa.Engine;
using PiSa.Engine.Api;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Cli.Commands;

/// <summary>What `pisa upscale` was asked, beyond the pipeline's own options.</summary>
public sealed record UpscaleRequest
{
    public required string[] Inputs { get; init; }
    public required string Output { get; init; }
    public required string ModelDir { get; init; }
    public required string LoraPath { get; init; }
    public required UpscaleOptions Options { get; init; }
    public string Device { get; init; } = "auto";
    public Engine.Backends.Cpu.CpuPrecision Precision { get; init; }
    /// <summary>--gpu N, or null for device 0 (see <see cref="GpuOption"/>).</summary>
    public int? Gpu { get; init; }
    public string? DumpPath { get; init; }
    /// <summary>The lambda grid (lists given), or null for one image per input.</summary>
    public LambdaGrid? Grid { get; init; }
    public ImageFormat? Format { get; init; }
    public int? Quality { get; init; }
    public int? BitDepth { get; init; }
    public bool KeepRgb { get; init; }
    public bool SkipExisting { get; init; }
    public bool Recursive { get; init; }
    public ProgressMode Progress { get; init; }
    public bool Quiet { get; init; }
    public bool Verbose { get; init; }
    /// <summary>--max-memory SIZE, or null for the memory available at start.</summary>
    public string? MaxMemory { get; init; }
    /// <summary>No tile option given: the memory planner may choose smaller tiles to fit the budget.</summary>
    public bool AutoTiling { get; init; }
}

/// <summary>
/// `pisa upscale INPUT [INPUT...] -o OUTPUT --model SD_DIR --lora CHECKPOINT [options]`. Every output is planned
/// and checked before the model loads; the model loads once; in a batch a bad input is reported in one line and
/// skipped, the rest complete, and the exit code says something failed.
/// </summary>
public static class UpscaleCommand
{
    public static Command Build()
    {
        // Zero inputs only with --list (checked in the action).
        var inputs = new Argument<string[]>("INPUT") { Description = "input image(s) or folder(s) of images (PNG, JPEG, WebP, TIFF, BMP, TGA, GIF)", Arity = ArgumentArity.ZeroOrMore };
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
        // --mode, --lambda-pix/-sem, --prompt, --color-fix, --upscale, --process-size, tiles: shared with `pisa serve`.
        var processing = new ProcessingOptions();
        var device = DeviceOption.Create();
        var precision = PrecisionOption.Create();
        var gpu = GpuOption.Create();
        var dump = new Option<string?>("--dump-tensors") { Description = "write the intermediates (as the golden fixtures name them) to this .safetensors file" };
        var format = Choices.Create("--format", ["-f"], "output format, overriding the extension (png, jpg, webp, tiff, bmp, tga)", null, "png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp", "tga");
        var quality = new Option<int?>("--quality") { Description = "JPEG quality (default 95); for WebP, lossy at this quality (WebP is lossless without it)" };
        var bitDepth = new Option<int?>("--bit-depth") { Description = "8 or 16 bits per sample in the output (default: the input's, where the format holds it)" };
        var keepRgb = new Option<bool>("--keep-rgb") { Description = "write a greyscale input's result as RGB instead of grey" };
        var skipExisting = new Option<bool>("--skip-existing") { Description = "skip inputs whose output already exists (resume a batch)" };
        var recursive = new Option<bool>("--recursive", "-r") { Description = "walk input folders' subfolders, mirroring them under the output folder" };
        var progress = Choices.Create("--progress", "auto (a bar, on a terminal only), json (one JSON event per line on stderr) or none", "auto", "auto", "json", "none");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print only errors" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "print the stage table and notices even when an input failed" };
        var maxMemory = new Option<string?>("--max-memory") { Description = "memory budget, e.g. 12G (default: the memory available at start); a run estimated above it is refused, or tiled to fit when no tile option is given" };

        var cmd = new Command("upscale", "Upscale images with PiSA-SR.")
        {
            inputs, output, model, lora,
        };
        processing.AddTo(cmd);
        foreach (var o in new Option[] { device, precision, dump, format, quality, bitDepth, keepRgb, skipExisting, recursive, progress, quiet, verbose, gpu, maxMemory })
            cmd.Add(o);
        // --list/--shard/--results; --skip-existing is the one defined above.
        var batch = new BatchList(skipExisting);
        batch.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var (options, pixes, sems) = processing.BindGrid(r);
            var loraMode = options.Mode;
            bool isGrid = pixes.Length > 1 || sems.Length > 1;
            if (isGrid && loraMode != LoraMode.Adjustable)
                throw new UsageException("a lambda grid (lists for --lambda-pix/--lambda-sem) needs the adjustable mode");
            int? bits = r.GetValue(bitDepth);
            if (bits is not (null or 8 or 16)) throw new UsageException($"--bit-depth must be 8 or 16, not {bits}");
            int? q = r.GetValue(quality);
            if (q is < 1 or > 100) throw new UsageException($"--quality must be between 1 and 100, not {q}");
            if (r.GetValue(quiet) && r.GetValue(verbose)) throw new UsageException("--quiet and --verbose contradict each other");
            int? gpuIndex = r.GetValue(gpu);
            if (batch.UsageError(r, r.GetValue(inputs)?.Length ?? 0) is { } usage) throw new UsageException(usage);
            var cpuPrecision = PrecisionOption.Resolve(r.GetValue(precision)!, r.GetValue(device)!);
            // A list names files: walking folders does not apply to it.
            if (batch.Requested(r) && r.GetValue(recursive)) throw new UsageException("--recursive walks input folders: not with --list (a list names files)");
            var request = new UpscaleRequest
            {
                Inputs = r.GetValue(inputs) ?? [],
                Output = r.GetValue(output)!,
                ModelDir = r.GetValue(model)!,
                LoraPath = r.GetValue(lora)!,
                Options = options,
                Device = r.GetValue(device)!,
                Precision = cpuPrecision,
                Gpu = gpuIndex,
                DumpPath = r.GetValue(dump),
                Grid = isGrid ? new LambdaGrid(pixes, sems) : null,
                Format = r.GetValue(format) is string f ? ImageFormats.FromName(f) : null,
                Quality = q,
                BitDepth = bits,
                KeepRgb = r.GetValue(keepRgb),
                SkipExisting = r.GetValue(skipExisting),
                Recursive = r.GetValue(recursive),
                Progress = r.GetValue(progress) switch { "json" => ProgressMode.Json, "none" => ProgressMode.None, _ => ProgressMode.Auto },
                Quiet = r.GetValue(quiet),
                Verbose = r.GetValue(verbose),
                MaxMemory = r.GetValue(maxMemory),
                // Tiling is automatic (the planner may choose smaller tiles to fit the budget) unless a tile option was given.
                AutoTiling = new Option[] { processing.LatentTile, processing.LatentOverlap, processing.VaeEncoderTile, processing.VaeDecoderTile }.All(t => r.GetResult(t) is null or { Implicit: true }),
            };
            // --list runs the same per-input path over a list's shard.
            return batch.Requested(r) ? batch.Run(r, request) : Run(request);
        });
        return cmd;
    }

    /// <summary>What was settled before any path or model: the backend to ask for and the memory budget.</summary>
    internal sealed record Prepared(string Device, int Gpu, MemoryBudget Budget);

    /// <summary>What is checked before any path or model, for the argument batch and --list alike: the options,
    /// --dump-tensors with a grid, --gpu against the device, and the memory budget (resolved before the model takes
    /// any of it).</summary>
    internal static Prepared Prepare(UpscaleRequest q)
    {
        q.Options.Validate(latentTileMayBeAutomatic: true); // -t 0 is resolved per image by MemoryPlanner.Plan
        if (q.Grid != null && q.DumpPath != null) throw new UsageException("--dump-tensors writes one run's intermediates: not with a lambda grid");
        var (deviceName, gpuOrdinal) = GpuOption.Resolve(q.Device, q.Gpu);
        try { return new Prepared(deviceName, gpuOrdinal, MemoryBudget.Resolve(q.MaxMemory)); }
        catch (PisaException e) when (e is not UsageException && q.MaxMemory != null) { throw new UsageException(e.Message); }
    }

    /// <summary>The library door for the request's model on the prepared backend and GPU; notices unless -q.</summary>
    internal static PisaUpscaler Load(UpscaleRequest q, Prepared p) => PisaUpscaler.Load(new PisaUpscalerOptions
    {
        ModelDir = q.ModelDir, LoraPath = q.LoraPath, Device = p.Device, Gpu = p.Gpu, Precision = q.Precision,
        Notice = notice => { if (!q.Quiet) Console.Error.WriteLine($"pisa: {notice}"); },
    });

    public static int Run(UpscaleRequest q)
    {
        var prepared = Prepare(q);

        // Everything that can be wrong with the paths is found now, before minutes of model loading and compute.
        var jobs = UpscaleTargets.Plan(q.Inputs, q.Output, q.Recursive, q.Format, q.Grid?.Pairs);
        bool many = jobs.Count > 1 || q.Inputs.Any(Directory.Exists);
        CheckDump(q, jobs, many);
        int skipped = 0;
        if (q.SkipExisting)
        {
            skipped = jobs.RemoveAll(j => j.Outputs.All(File.Exists));
            if (!q.Quiet && skipped > 0) Console.Error.WriteLine($"pisa: skipping {skipped} input(s) whose output exists");
            if (jobs.Count == 0) return Program.ExitOk;
        }

        using var upscaler = Load(q, prepared);
        var progress = new UpscaleProgress(q.Quiet ? ProgressMode.None : q.Progress, jobs.Count);
        var said = new HashSet<string>(StringComparer.Ordinal);
        void SayOnce(string line)
        {
            if (q.Quiet || !said.Add(line)) return;
            progress.Interrupt();
            Console.Error.WriteLine($"pisa: {line}");
        }

        // Stage times and notices summed over the images, for the table printed at the end.
        var timer = new StageTimer();
        var notices = new List<string>();
        int failed = 0;
        for (int i = 0; i < jobs.Count; i++)
        {
            var job = jobs[i];
            progress.ImageStart(i, Path.GetFileName(job.Input));
            try
            {
                var outcome = Start(upscaler, job, q, prepared.Budget, progress, n => SayOnce($"{Program.OneLine(Path.GetFileName(job.Input))}: {n}"),
                    plan => progress.Planned(plan, prepared.Budget.Bytes)).GetAwaiter().GetResult();
                Finish(q, job, outcome, many, SayOnce);
                foreach (var stage in outcome.Stages) timer.Add(stage.Stage, stage.Milliseconds);
                notices.AddRange(outcome.Notices);
                progress.ImageDone(true);
            }
            catch (PisaException e)
            {
                failed++;
                progress.ImageDone(false);
                progress.Interrupt();
                Console.Error.WriteLine($"pisa: error: {Program.OneLine(Path.GetFileName(job.Input))}: {Program.OneLine(e.Message)}");
            }
        }
        progress.Finish(failed);
        if (!q.Quiet && (failed == 0 || q.Verbose))
        {
            foreach (var n in notices) Console.Error.WriteLine($"pisa: {n}");
            StageTable.Print(Console.Error, timer, upscaler.LoadMilliseconds, jobs.Count - failed, upscaler.Backend);
        }
        if (failed > 0)
        {
            Console.Error.WriteLine($"pisa: {failed} of {jobs.Count} input(s) failed");
            return Program.ExitFailed;
        }
        return Program.ExitOk;
    }

    /// <summary>One input through the library's file door: decode, memory check, the pipeline (a grid's pairs), save.
    /// Shared by the argument batch and `--list`.</summary>
    internal static Task<UpscaleOutcome> Start(PisaUpscaler upscaler, UpscaleJob job, UpscaleRequest q, MemoryBudget budget,
        IProgress<Engine.Pipeline.UpscaleProgress>? progress, Action<string> notice, Action<MemoryEstimate> planned) =>
        upscaler.UpscaleFileAsync(job.Input, new UpscaleFileTargets
            {
                Outputs = q.Grid == null ? [job.Output] : [.. job.Outputs.Take(q.Grid.Pairs.Count)],
                ContactSheet = job.SheetOutput(q.Grid != null),
                Encode = new EncodeOptions { Format = job.Format, Quality = q.Quality, BitDepth = q.BitDepth },
            }, q.Options, new UpscaleCall
            {
                Grid = q.Grid,
                KeepTensors = q.DumpPath != null,
                KeepRgb = q.KeepRgb,
                Memory = budget,
                AutoTiling = q.AutoTiling,
                Notice = notice,
                Planned = planned,
            }, progress);

    /// <summary>After an input succeeded: the format notices (once each) and the tensor dump.</summary>
    internal static void Finish(UpscaleRequest q, UpscaleJob job, UpscaleOutcome outcome, bool many, Action<string> sayOnce)
    {
        foreach (var saved in outcome.Saved)
        {
            if (saved.AlphaComposited) sayOnce(ImageFormats.AlphaNotice(job.Format));
            if (saved.DepthReduced) sayOnce(ImageFormats.DepthNotice(job.Format));
        }
        if (q.DumpPath != null && outcome.Tensors is { } tensors)
            SafetensorsWriter.Write(DumpPathFor(q.DumpPath, job.Input, many), tensors);
    }

    /// <summary>--dump-tensors: a .safetensors file in a writable folder; with several inputs one file per input
    /// (NAME.INPUT.safetensors), so two inputs of one name are refused before any work.</summary>
    internal static void CheckDump(UpscaleRequest q, List<UpscaleJob> jobs, bool many)
    {
        if (q.DumpPath == null) return;
        CheckDumpPath(q.DumpPath);
        if (!many) return;
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var job in jobs)
        {
            string dump = DumpPathFor(q.DumpPath, job.Input, true);
            if (seen.TryGetValue(dump, out var other))
                throw new UsageException($"--dump-tensors: {other} and {job.Input} would both be dumped to {dump}");
            seen[dump] = job.Input;
        }
    }

    private static void CheckDumpPath(string dumpPath)
    {
        if (!string.Equals(Path.GetExtension(dumpPath), ".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--dump-tensors {dumpPath}: the file must end in .safetensors (it is written in that format)");
        string dir = Path.GetDirectoryName(Path.GetFullPath(dumpPath))!;
        if (!Directory.Exists(dir)) throw new PisaException($"--dump-tensors: folder '{dir}' does not exist");
        UpscaleTargets.ProbeWritable(dir);
    }

    private static string DumpPathFor(string dumpPath, string input, bool many) =>
        many ? Path.Combine(Path.GetDirectoryName(dumpPath) ?? "", $"{Path.GetFileNameWithoutExtension(dumpPath)}.{Path.GetFileNameWithoutExtension(input)}.safetensors")
             : dumpPath;
}

/// <summary>
/// <c>--lambda-pix</c>/<c>--lambda-sem</c> values: one number or a comma-separated list, in the invariant culture
/// (a decimal point, never a decimal comma). "1,5" is refused as ambiguous rather than read as 15 or as a list.
/// </summary>
public static class LambdaList
{
    public const int MaxValues = 16;

    public static float[]? Parse(string option, string? text)
    {
        if (text == null) return null;
        var parts = text.Split(',');
        if (parts.Length == 2 && parts.All(p => p.Trim().Length > 0 && p.Trim().All(char.IsAsciiDigit)))
            throw new UsageException($"{option} '{text}' is ambiguous: write 1.5 for one value (a decimal point), or 1.0,5.0 for a list");
        if (parts.Length > MaxValues) throw new UsageException($"{option}: at most {MaxValues} values");
        var values = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!float.TryParse(parts[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !float.IsFinite(values[i]))
                throw new UsageException($"{option}: '{parts[i]}' is not a number (use a decimal point: 0.5)");
        }
        if (values.Distinct().Count() != values.Length) throw new UsageException($"{option} '{text}' repeats a value");
        return values;
    }
}
