using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PiSa.Engine;
using PiSa.Engine.Api;
using PiSa.Engine.Backends;
using PiSa.Engine.Bench;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa bench`: the paper's speed protocol (128x128 input, x4, 512x512 output; other output sizes with --sizes)
/// on real weights (--model/--lora) or on random weights of the SD 2.1-base shapes (--random-weights). Prints
/// min / median / p90 / spread per stage and end to end, the arithmetic per stage and the achieved rate, and the
/// peak memory; --json writes the same for machines.
/// </summary>
public static class BenchCommand
{
    public static Command Build()
    {
        var sizes = new Option<string>("--sizes") { Description = "output sizes in pixels, comma-separated (multiples of 64; input = size/4)", DefaultValueFactory = _ => "512" };
        var mode = new Option<string>("--mode")
        {
            Description = "default, adjustable or fused (as in pisa upscale); several, comma-separated, share one model load",
            DefaultValueFactory = _ => "default",
        };
        mode.Validators.Add(result =>
        {
            try { ParseModes(result.GetValueOrDefault<string>() ?? ""); }
            catch (PisaException e) { result.AddError(e.Message); }
        });
        var warmup = new Option<int>("--warmup") { Description = "untimed runs first", DefaultValueFactory = _ => 3 };
        var runs = new Option<int>("--runs") { Description = "timed runs per size", DefaultValueFactory = _ => 10 };
        var device = DeviceOption.Create();
        var precision = PrecisionOption.Create();
        var model = new Option<string?>("--model") { Description = "SD 2.1-base folder in diffusers layout (with --lora)" };
        var lora = new Option<string?>("--lora") { Description = "PiSA-SR checkpoint (with --model)" };
        var random = new Option<bool>("--random-weights") { Description = "random weights instead of --model/--lora (same arithmetic, no download)" };
        var configDir = new Option<string?>("--config-dir") { Description = "with --random-weights: folder with unet/, vae/, text_encoder/config.json (default: the SD 2.1-base configs in tests/fixtures/sd21-base)" };
        var json = new Option<string?>("--json") { Description = "also write the results as JSON to this file (written atomically)" };
        var grid = new Option<int>("--grid") { Description = "also time an NxN lambda grid (adjustable mode) against N*N separate adjustable runs (0: off)" };
        var maxMemory = new Option<string?>("--max-memory") { Description = "memory budget, e.g. 12G (default: the memory available at start); a size estimated above it is refused before anything runs" };
        var graphs = new Option<string?>("--graphs") { Description = "CUDA graphs for the runs: off, on, or both (off, then on: side by side from one model load); on needs --warmup 2 or more (a plain run, then the recording). Default: as PISA_CUDA_GRAPHS says" };
        graphs.Validators.Add(result =>
        {
            try { ParseGraphs(result.GetValueOrDefault<string?>()); }
            catch (PisaException e) { result.AddError(e.Message); }
        });

        var cmd = new Command("bench", "Time the PiSA-SR pipeline (VAE encode, UNet, VAE decode; prompt cached) per stage.")
        {
            sizes, mode, warmup, runs, device, precision, model, lora, random, configDir, json, grid, maxMemory, graphs,
        };
        cmd.SetAction(r => Run(new BenchArgs(
            ParseSizes(r.GetValue(sizes) ?? "512"),
            ParseModes(r.GetValue(mode) ?? "default"),
            r.GetValue(warmup), r.GetValue(runs), r.GetValue(device)!, r.GetValue(model), r.GetValue(lora),
            r.GetValue(random), r.GetValue(configDir), r.GetValue(json), r.GetValue(grid), r.GetValue(maxMemory),
            PrecisionOption.Resolve(r.GetValue(precision)!, r.GetValue(device)!), ParseGraphs(r.GetValue(graphs)))));
        return cmd;
    }

    public sealed record BenchArgs(int[] Sizes, LoraMode[] Modes, int Warmup, int Runs, string Device, string? ModelDir,
        string? LoraPath, bool RandomWeights, string? ConfigDir, string? JsonPath, int Grid = 0, string? MaxMemory = null,
        Engine.Backends.Cpu.CpuPrecision Precision = Engine.Backends.Cpu.CpuPrecision.Fp32, bool[]? Graphs = null);

    /// <summary>--graphs: null (leave the backend as PISA_CUDA_GRAPHS set it), [false], [true] or [false, true] (both).</summary>
    public static bool[]? ParseGraphs(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null => null,
        "off" => [false],
        "on" => [true],
        "both" => [false, true],
        _ => throw new UsageException($"--graphs: '{text}' is not one of off, on, both"),
    };

    /// <summary>The grid's lambdas: N values evenly spaced over [0.5, 1.5] for each scale.</summary>
    public static LambdaGrid GridPairs(int n)
    {
        var values = Enumerable.Range(0, n).Select(i => n == 1 ? 1f : 0.5f + i / (float)(n - 1)).ToArray();
        return new LambdaGrid(values, values);
    }

    public static int Run(BenchArgs a)
    {
        if (a.RandomWeights == (a.ModelDir != null || a.LoraPath != null))
            throw new UsageException("pisa bench needs either --model SD_DIR --lora CHECKPOINT, or --random-weights [--config-dir DIR]");
        if (!a.RandomWeights && (a.ModelDir == null || a.LoraPath == null))
            throw new UsageException("pisa bench: --model and --lora go together");
        if (a.Runs < 1) throw new UsageException($"--runs must be at least 1, got {a.Runs}");
        if (a.Warmup < 0) throw new UsageException($"--warmup must not be negative, got {a.Warmup}");
        if (a.Grid is < 0 or 1 or > 5) throw new UsageException($"--grid must be 0 (off) or 2 to 5, got {a.Grid}");
        // A graph replays from the third call on (plain, then recorded): fewer warm-ups would time the recording.
        if (a.Graphs?.Contains(true) == true && a.Warmup < 2)
            throw new UsageException($"--graphs {(a.Graphs.Length > 1 ? "both" : "on")} needs --warmup 2 or more (a plain run, then the recording), got {a.Warmup}");
        if (a.JsonPath != null)
        {
            // Checked now, not after minutes of runs.
            string dir = Path.GetDirectoryName(Path.GetFullPath(a.JsonPath))!;
            if (!Directory.Exists(dir)) throw new PisaException($"--json {a.JsonPath}: folder '{dir}' does not exist");
            UpscaleTargets.ProbeWritable(dir);
        }

        MemoryBudget budget; // before the model takes any of it
        try { budget = MemoryBudget.Resolve(a.MaxMemory); }
        catch (PisaException e) when (e is not UsageException && a.MaxMemory != null) { throw new UsageException(e.Message); }
        using var ops = BackendFactory.Create(a.Device, notice => Console.Error.WriteLine($"pisa: {notice}"), precision: a.Precision);
        if (a.Graphs?.Contains(true) == true && ops is not Engine.Backends.Cuda.CudaOps)
            throw new PisaException($"--graphs on needs the CUDA backend (--device cuda or ptx); this run is on {ops.Name}");
        long loadStart = System.Diagnostics.Stopwatch.GetTimestamp();
        var (model, weights) = LoadModel(ops, a.RandomWeights, a.ConfigDir, a.ModelDir, a.LoraPath);
        using var _ = model;
        double loadMs = System.Diagnostics.Stopwatch.GetElapsedTime(loadStart).TotalMilliseconds;
        return Report(a, ops, model, weights, loadMs, budget);
    }

    /// <summary>The model of --random-weights [--config-dir] or --model/--lora (shared with `pisa profile`), and a description.</summary>
    internal static (PisaModel Model, string Weights) LoadModel(IOps ops, bool randomWeights, string? configDir, string? modelDir, string? loraPath)
    {
        string weights;
        PisaModel model;
        var a = (RandomWeights: randomWeights, ConfigDir: configDir, ModelDir: modelDir, LoraPath: loraPath);
        if (a.RandomWeights)
        {
            string dir = a.ConfigDir ?? RepoPaths.FindUp(Path.Combine("tests", "fixtures", "sd21-base"))
                ?? throw new PisaException("pisa bench --random-weights: no tests/fixtures/sd21-base above the current folder; give --config-dir DIR");
            string? tokenizer = Directory.Exists(Path.Combine(dir, "tokenizer")) ? Path.Combine(dir, "tokenizer")
                : RepoPaths.FindUp(Path.Combine("tests", "fixtures", "pisa-tiny", "sd", "tokenizer"));
            model = RandomModel.Create(ops, dir, tokenizer);
            weights = a.ConfigDir == null
                ? $"random weights of the SD 2.1-base shapes (configs {dir}, seed {RandomModel.DefaultSeed:X}, LoRA ranks 4/4)"
                : $"random weights of the shapes in {dir} (seed {RandomModel.DefaultSeed:X}, LoRA ranks 4/4)";
        }
        else
        {
            model = PisaModel.Load(a.ModelDir!, a.LoraPath!, ops);
            weights = $"{a.ModelDir} + {a.LoraPath}";
        }
        return (model, weights);
    }

    private static int Report(BenchArgs a, IOps ops, PisaModel model, string weights, double loadMs, MemoryBudget budget)
    {

        // Every (mode, size) is estimated and checked before the first one runs: a refusal costs no compute.
        var estimates = new Dictionary<LoraMode, List<MemoryEstimate>>();
        foreach (var mode in a.Modes)
        {
            var opts = new UpscaleOptions { Mode = mode };
            estimates[mode] = [.. a.Sizes.Select(size => BenchRunner.Estimate(model, ops.Name, size, opts))];
            for (int i = 0; i < a.Sizes.Length; i++)
                Console.Error.WriteLine($"pisa bench: {Mode(mode)}: {a.Sizes[i]}x{a.Sizes[i]}: estimated peak {estimates[mode][i].Describe()}");
        }
        foreach (var mode in a.Modes)
            for (int i = 0; i < a.Sizes.Length; i++)
                if (estimates[mode][i].Total > budget.Bytes)
                    throw new PisaException($"bench size {a.Sizes[i]} needs about {MemorySize.Format(estimates[mode][i].Total)} in mode {Mode(mode)}, more than the memory budget of {budget}; use smaller --sizes, or raise --max-memory if more memory is free");

        // One model for all modes: building (and uploading) full-size weights costs more than a few timed runs.
        // Every run goes through the library's door, as `pisa upscale` and `pisa serve` calls do.
        using var upscaler = PisaUpscaler.FromModel(model, ownsModel: false);
        var cuda = ops as Engine.Backends.Cuda.CudaOps;
        bool first = true;
        foreach (var mode in a.Modes)
        foreach (bool? graphsOn in a.Graphs is null ? [null] : a.Graphs.Select(g => (bool?)g))
        {
            if (cuda != null && graphsOn is bool on) cuda.UseGraphs = on;
            bool? graphs = cuda?.UseGraphs;   // what these runs use (null: a backend without graphs)
            var options = new UpscaleOptions { Mode = mode };
            var notices = new List<string>();
            string? loadBefore = BenchRunner.LoadAverage();
            var results = new List<BenchSizeResult>();
            var grids = new List<(int Size, BenchStats Grid, BenchStats Single)>();
            foreach (int size in a.Sizes)
            {
                results.Add(BenchRunner.Run(upscaler, size, options, a.Warmup, a.Runs, p => Console.Error.WriteLine($"pisa bench: {Mode(mode)}: {p}"), notices));
                if (a.Grid > 0)
                {
                    var (g, single) = BenchRunner.RunGrid(upscaler, size, options, GridPairs(a.Grid), a.Warmup, a.Runs, p => Console.Error.WriteLine($"pisa bench: {Mode(mode)}: {p}"));
                    grids.Add((size, g, single));
                }
            }
            string? loadAfter = BenchRunner.LoadAverage();
            long peakRss = BenchRunner.PeakWorkingSetBytes();
            long? peakDevice = upscaler.PeakDeviceBytes;

            var w = Console.Out;
            if (!first) w.WriteLine();
            first = false;
            w.WriteLine($"pisa bench: PiSA-SR steps 6-10 (prompt embedding cached after the first run, VAE encode, UNet at t=1, VAE decode), mode {Mode(mode)}");
            w.WriteLine($"weights: {weights}");
            w.WriteLine($"backend: {ops.Name}, precision {a.Precision.ToString().ToLowerInvariant()}{(graphs is bool gr ? $", CUDA graphs {(gr ? "on" : "off")}" : "")}; {Environment.ProcessorCount} logical CPUs; load average {loadBefore ?? "n/a"} before, {loadAfter ?? "n/a"} after");
            w.WriteLine($"warm-up {a.Warmup}, timed runs {a.Runs}; model load {F(loadMs, 0)} ms{(a.Modes.Length > 1 ? " (shared by the modes)" : "")}");
            foreach (var r in results) PrintSize(w, r);
            w.WriteLine($"estimated peak (before the runs): {string.Join(", ", estimates[mode].Select((e, i) => $"{a.Sizes[i]}: {F(e.Total / 1048576.0, 0)} MiB"))}; budget {budget}");
            foreach (var (size, g, single) in grids)
            {
                int n = a.Grid * a.Grid;
                double separate = n * single.Median;
                w.WriteLine($"grid {a.Grid}x{a.Grid} at {size}x{size} (adjustable, lambdas 0.5..1.5): median {F(g.Median, 1)} ms for {n} images (spread {F(g.Spread, 1)}); " +
                            $"{n} separate adjustable runs: {n} x {F(single.Median, 1)} = {F(separate, 1)} ms; the grid takes {F(100 * g.Median / separate, 1)} % of that");
            }
            string? graphFailure = graphs == true ? cuda!.GraphFailure : null;
            if (graphs == true)   // that replays happened, not only that they were asked for
            {
                w.WriteLine($"CUDA graphs: {cuda!.GraphsRecorded} recorded, {cuda.GraphReplays} replays, {cuda.GraphsInvalidated} dropped as stale (since the model was loaded)");
                if (graphFailure != null) w.WriteLine($"CUDA graphs: {graphFailure} (the runs from then on launched plainly)");
            }
            w.WriteLine($"process peak working set: {F(peakRss / 1048576.0, 0)} MiB; peak device memory: {(peakDevice is long d ? $"{F(d / 1048576.0, 0)} MiB" : "not reported by this backend")}");
            if (ops is PiSa.Engine.Backends.Cpu.CpuOps)
            {
                // Process-wide: with several modes, the peaks so far (this mode and those before it).
                var ps = PiSa.Engine.Backends.Cpu.CpuBufferPool.Shared.Stats();
                w.WriteLine($"cpu activation pool: peak live {F(ps.PeakLiveBytes / 1048576.0, 0)} MiB, peak free {F(ps.PeakPooledBytes / 1048576.0, 0)} MiB, {ps.Hits} of {ps.Rents} rents recycled{(a.Modes.Length > 1 ? " (since the process started)" : "")}");
            }
            foreach (var n in notices.Distinct()) Console.Error.WriteLine($"pisa: {n}");

            if (a.JsonPath != null)
                AtomicFile.Write(JsonPathFor(a, mode, graphs), stream => WriteJson(stream, a, mode, graphs, graphFailure, ops.Name, weights, loadMs, loadBefore, loadAfter, results, grids, peakRss, peakDevice, estimates[mode]));
        }
        return Program.ExitOk;
    }

    /// <summary>--json FILE for one mode; with several modes one file each, the mode inserted before the extension
    /// (bench.json -> bench-default.json, bench-adjustable.json, ...); with --graphs both also "-graphs-off" or
    /// "-graphs-on" (bench-default-graphs-on.json).</summary>
    public static string JsonPathFor(BenchArgs a, LoraMode mode, bool? graphs = null)
    {
        string path = a.JsonPath!;
        string suffix = (a.Modes.Length > 1 ? $"-{Mode(mode)}" : "") + (a.Graphs is { Length: > 1 } ? (graphs == true ? "-graphs-on" : "-graphs-off") : "");
        if (suffix.Length == 0) return path;
        return Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}{suffix}{Path.GetExtension(path)}");
    }

    /// <summary>"default", "adjustable", "fused" or several of them comma-separated, each at most once.</summary>
    public static LoraMode[] ParseModes(string text)
    {
        var list = new List<LoraMode>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var m = part.ToLowerInvariant() switch
            {
                "default" => LoraMode.Default,
                "adjustable" => LoraMode.Adjustable,
                "fused" => LoraMode.Fused,
                _ => throw new PisaException($"--mode: '{part}' is not one of default, adjustable, fused"),
            };
            if (list.Contains(m)) throw new PisaException($"--mode: '{part}' is given twice");
            list.Add(m);
        }
        return list.Count > 0 ? [.. list] : throw new PisaException("--mode: no mode given");
    }

    private static void PrintSize(TextWriter w, BenchSizeResult r)
    {
        w.WriteLine($"output {r.OutputSize}x{r.OutputSize} (input {r.InputSize}x{r.InputSize}, x4):");
        // The library labels each call; a cold timed run (more warm-ups needed) is said, with its reasons.
        foreach (var (run, why) in r.ColdRuns)
            w.WriteLine($"  note: timed run {run} is cold ({string.Join(", ", why)}): weight packing, kernel compilation, the text encoder or first allocations fall in its time");
        bool firstRunCold = r.ColdRuns.Any(c => c.Run == 1 && c.Why.Contains("prompt encoded"));
        w.WriteLine($"  {"stage",-13} {"min ms",10} {"median",10} {"p90",10} {"spread",10} {"TFLOP",10} {"TFLOP/s",10}");
        foreach (var s in r.Stages)
        {
            var f = r.Flops[s.Name];
            bool cached = s.Name == BenchSizeResult.TextStage;
            // The prompt is cached after the first run: its times are mostly the cache lookup, so no rate.
            Row(w, cached ? (firstRunCold ? "text (run 1 uncached)" : "text (cached)") : s.Name, s, f.Total, cached ? null : f.Total / (s.Median * 1e-3) / 1e12);
        }
        Row(w, "end to end", r.EndToEnd, r.EndToEndFlops, r.EndToEndFlops / (r.EndToEnd.Median * 1e-3) / 1e12);
        w.WriteLine("  (TFLOP/s at the median time; text encoder TFLOP for one uncached encode)");
    }

    private static void Row(TextWriter w, string name, BenchStats s, double flops, double? rate) =>
        w.WriteLine($"  {name,-13} {F(s.Min, 1),10} {F(s.Median, 1),10} {F(s.P90, 1),10} {F(s.Spread, 1),10} {G(flops / 1e12),10} {(rate is double x ? G(x) : "-"),10}");

    private static void WriteJson(Stream stream, BenchArgs a, LoraMode mode, bool? graphs, string? graphFailure, string backend, string weights, double loadMs, string? loadBefore,
        string? loadAfter, List<BenchSizeResult> results, List<(int Size, BenchStats Grid, BenchStats Single)> grids, long peakRss, long? peakDevice,
        List<MemoryEstimate> estimates)
    {
        using var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        j.WriteStartObject();
        j.WriteString("tool", "pisa bench");
        // "0.1.0+<commit>" when built from a git checkout (the SDK appends the source revision).
        string info = typeof(BenchCommand).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "";
        int plus = info.IndexOf('+');
        j.WriteString("version", plus < 0 ? info : info[..plus]);
        if (plus < 0) j.WriteNull("commit"); else j.WriteString("commit", info[(plus + 1)..]);
        j.WriteString("date_utc", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
        j.WriteString("device", backend);
        // From the library's labels: some size's first timed run was cold.
        j.WriteBoolean("first_run_cold", results.Any(r => r.ColdRuns.Any(c => c.Run == 1)));

        j.WriteString("backend", backend);
        j.WriteString("device_option", a.Device);
        j.WriteString("precision", a.Precision.ToString().ToLowerInvariant());
        j.WriteString("weights", weights);
        j.WriteBoolean("random_weights", a.RandomWeights);
        j.WriteString("mode", Mode(mode));
        if (graphs is bool on) j.WriteBoolean("cuda_graphs", on); else j.WriteNull("cuda_graphs");
        if (graphFailure != null) j.WriteString("cuda_graph_failure", graphFailure); else j.WriteNull("cuda_graph_failure");
        j.WriteNumber("warmup", a.Warmup);
        j.WriteNumber("runs", a.Runs);
        j.WriteNumber("processor_count", Environment.ProcessorCount);
        WriteLoad(j, "load_average_before", loadBefore);
        WriteLoad(j, "load_average_after", loadAfter);
        j.WriteNumber("model_load_ms", loadMs);
        j.WriteNumber("peak_working_set_bytes", peakRss);
        if (peakDevice is long d) j.WriteNumber("peak_device_bytes", d); else j.WriteNull("peak_device_bytes");
        j.WriteStartArray("sizes");
        foreach (var r in results)
        {
            j.WriteStartObject();
            j.WriteNumber("output_size", r.OutputSize);
            j.WriteNumber("input_size", r.InputSize);
            j.WriteNumber("estimated_peak_bytes", estimates[results.IndexOf(r)].Total);
            j.WriteStartArray("stages");
            foreach (var s in r.Stages) WriteStats(j, s, r.Flops[s.Name].Total, s.Name == BenchSizeResult.TextStage);
            j.WriteEndArray();
            j.WritePropertyName("end_to_end");
            WriteStats(j, r.EndToEnd, r.EndToEndFlops, false);
            j.WriteStartArray("cold_runs");
            foreach (var (run, why) in r.ColdRuns)
            {
                j.WriteStartObject();
                j.WriteNumber("run", run);
                j.WriteStartArray("why");
                foreach (var x in why) j.WriteStringValue(x);
                j.WriteEndArray();
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteStartArray("grids");
        foreach (var (size, g, single) in grids)
        {
            j.WriteStartObject();
            j.WriteNumber("output_size", size);
            j.WriteNumber("n", a.Grid);
            WriteStatsProperty(j, "grid", g);
            WriteStatsProperty(j, "one_adjustable_run", single);
            j.WriteNumber("separate_runs_ms", a.Grid * a.Grid * single.Median);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteEndObject();
    }

    private static void WriteStatsProperty(Utf8JsonWriter j, string name, BenchStats s)
    {
        j.WritePropertyName(name);
        WriteStats(j, s, 0, false);
    }

    private static void WriteStats(Utf8JsonWriter j, BenchStats s, double flops, bool cached)
    {
        j.WriteStartObject();
        j.WriteString("name", s.Name);
        j.WriteNumber("min_ms", s.Min);
        j.WriteNumber("median_ms", s.Median);
        j.WriteNumber("p90_ms", s.P90);
        j.WriteNumber("spread_ms", s.Spread);
        j.WriteNumber("flop", flops);
        if (cached) j.WriteNull("tflops_at_median"); else j.WriteNumber("tflops_at_median", flops / (s.Median * 1e-3) / 1e12);
        j.WriteBoolean("cached_after_first_run", cached);
        j.WriteStartArray("runs_ms");
        foreach (double ms in s.RunsMs) j.WriteNumberValue(ms);
        j.WriteEndArray();
        j.WriteEndObject();
    }

    /// <summary>"0.52 0.61 0.70" as [0.52, 0.61, 0.7] (1, 5 and 15 minutes), or null.</summary>
    private static void WriteLoad(Utf8JsonWriter j, string name, string? value)
    {
        var parts = value?.Split(' ');
        var numbers = new List<double>();
        foreach (var p in parts ?? [])
            if (double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) numbers.Add(v);
        if (numbers.Count != 3) { j.WriteNull(name); return; }
        j.WriteStartArray(name);
        foreach (double v in numbers) j.WriteNumberValue(v);
        j.WriteEndArray();
    }

    public static int[] ParseSizes(string text)
    {
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int s) || s < 64 || s % 64 != 0)
                throw new UsageException($"--sizes: '{part}' is not a positive multiple of 64");
            list.Add(s);
        }
        return list.Count > 0 ? [.. list] : throw new UsageException("--sizes: no size given");
    }

    /// <summary>The first folder named <paramref name="relative"/> under the current folder or the executable's, or above them.</summary>
    private static string Mode(LoraMode m) => m.ToString().ToLowerInvariant();
    private static string G(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
    private static string F(double v, int digits) => v.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
