using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using PiSa.Engine;
using PiSa.Engine.Api;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Cli.Commands;

/// <summary>
/// Batch at scale for `pisa upscale`: `--list FILE` (one input per line; blank lines and lines starting with '#'
/// skipped), `--shard I/N` or `--shard-count N` with I from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job),
/// `--skip-existing`, `--results FILE.jsonl`. Line k of the list (counting inputs only) belongs to shard k mod N, so
/// the N shards cover every input exactly once whatever the list's length. Output names are deterministic: the
/// input's path relative to `--list-root` (default: the list file's folder) under the output folder, so a
/// retried shard finds what it already wrote. Runs on the library door (<see cref="PisaUpscaler"/>), with the
/// next image's decoding overlapping the current one's backend work.
/// </summary>
/// <remarks>`--skip-existing` is upscale's own option (it also resumes a plain folder batch): the batch reads it.</remarks>
public sealed class BatchList(Option<bool> skipExisting)
{
    public const string IndexVariable = "JOB_COMPLETION_INDEX";

    public Option<string?> List { get; } = new("--list") { Description = "file with one input image per line (# comments); OUTPUT is then a folder" };
    public Option<string?> ListRoot { get; } = new("--list-root") { Description = "folder the listed paths are relative to, and whose layout the outputs mirror (default: the list file's folder)" };
    public Option<string?> Shard { get; } = new("--shard") { Description = "I/N: process only inputs k with k mod N = I (0 <= I < N)" };
    public Option<int?> ShardCount { get; } = new("--shard-count") { Description = $"N shards, this one's index I from ${IndexVariable} (Kubernetes Indexed Job)" };
    public Option<bool> SkipExisting { get; } = skipExisting;
    public Option<string?> Results { get; } = new("--results") { Description = "write one JSON line per input (status, output, timings, error) to this file" };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { List, ListRoot, Shard, ShardCount, Results }) cmd.Add(o);
    }

    /// <summary>Inputs as arguments and a list at once, neither, or a batch option without --list: the message.</summary>
    public string? UsageError(ParseResult r, int inputArguments)
    {
        if (Requested(r))
            return inputArguments > 0 ? "give the inputs either as arguments or with --list, not both" : null;
        if (inputArguments == 0) return "no INPUT given (or --list FILE)";
        foreach (var o in new Option[] { ListRoot, Shard, ShardCount, Results })
            if (r.GetResult(o) is { Implicit: false }) return $"{o.Name} works with --list FILE";
        return null;
    }

    /// <summary>True when the command line asked for the batch path.</summary>
    public bool Requested(ParseResult r) => r.GetValue(List) != null;

    /// <summary>The inputs of shard <paramref name="index"/> of <paramref name="count"/>, in list order.</summary>
    public static List<T> Select<T>(IReadOnlyList<T> all, int index, int count) =>
        all.Where((_, k) => k % count == index).ToList();

    /// <summary>(I, N) from --shard I/N, or from --shard-count N and JOB_COMPLETION_INDEX; (0, 1) when neither.</summary>
    public static (int Index, int Count) ParseShard(string? shard, int? shardCount, string? indexVariable)
    {
        if (shard != null)
        {
            var parts = shard.Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i) ||
                !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || i >= n)
                throw new PisaException($"--shard must be I/N with 0 <= I < N, got '{shard}'");
            if (shardCount != null && shardCount != n) throw new PisaException($"--shard {shard} and --shard-count {shardCount} disagree");
            return (i, n);
        }
        if (shardCount == null) return (0, 1);
        if (shardCount < 1) throw new PisaException($"--shard-count must be at least 1, got {shardCount}");
        if (string.IsNullOrEmpty(indexVariable))
            throw new PisaException($"--shard-count {shardCount} needs ${IndexVariable} (set by a Kubernetes Indexed Job) or --shard I/N");
        if (!int.TryParse(indexVariable, NumberStyles.None, CultureInfo.InvariantCulture, out int index) || index >= shardCount)
            throw new PisaException($"${IndexVariable} must be an integer in [0, {shardCount}), got '{indexVariable}'");
        return (index, shardCount.Value);
    }

    /// <summary>The listed inputs (full paths) and their deterministic output paths under <paramref name="outputDir"/>:
    /// the input's relative path, with <paramref name="format"/>'s extension when one is given (-f), and as a PNG when
    /// the input's format is one we do not write (GIF).</summary>
    public static List<(string Input, string Output)> Plan(string listFile, string? listRoot, string outputDir, ImageFormat? format = null)
    {
        if (!File.Exists(listFile)) throw new PisaException($"list file not found: {listFile}");
        string root = Path.GetFullPath(listRoot ?? Path.GetDirectoryName(Path.GetFullPath(listFile))!);
        var plan = new List<(string, string)>();
        var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (var raw in File.ReadLines(listFile))
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string input = Path.GetFullPath(Path.Combine(root, line));
            string rel = Path.GetRelativePath(root, input);
            if (rel.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(rel))
                throw new PisaException($"{listFile}:{lineNo}: {line} is outside the list root {root} (set --list-root)");
            if (format != null) rel = Path.ChangeExtension(rel, ImageFormats.Extension(format.Value));
            else if (!IsWritable(rel)) rel = Path.ChangeExtension(rel, ".png");
            string output = Path.Combine(Path.GetFullPath(outputDir), rel);
            if (outputs.TryGetValue(output, out var other))
                throw new PisaException($"{listFile}:{lineNo}: {line} and {other} would both be written to {output}");
            outputs[output] = line;
            plan.Add((input, output));
        }
        if (plan.Count == 0) throw new PisaException($"list file {listFile} names no input");
        return plan;
    }

    private static bool IsWritable(string name)
    {
        try { ImageIO.FormatFromPath(name); return true; }
        catch (PisaException) { return false; }
    }

    /// <summary>
    /// This shard of the list through upscale's own per-input path (<see cref="UpscaleCommand.Start"/>): the same
    /// options (format, quality, bit depth, grey, the lambda grid, tensor dumps, memory budget, GPU, progress), the
    /// same checks of every output before the model loads. A bad input is one line and one "failed" result; the
    /// rest complete.
    /// </summary>
    public int Run(ParseResult r, UpscaleRequest q)
    {
        var prepared = UpscaleCommand.Prepare(q);
        var (index, count) = ParseShard(r.GetValue(Shard), r.GetValue(ShardCount), Environment.GetEnvironmentVariable(IndexVariable));
        if (File.Exists(q.Output)) throw new PisaException($"output {q.Output} is a file, but --list needs an output folder");
        var all = Plan(r.GetValue(List)!, r.GetValue(ListRoot), q.Output, q.Format);
        var jobs = Select(all, index, count)
            .Select(p => UpscaleTargets.Job(p.Input, p.Output, q.Format ?? ImageIO.FormatFromPath(p.Output), q.Grid?.Pairs)).ToList();
        // Before the model loads: no two inputs on one tensor dump, no output on a listed input or on another
        // output, every output folder writable (created here).
        UpscaleCommand.CheckDump(q, jobs, many: true);
        UpscaleTargets.Check(jobs, all.Select(p => p.Input));
        string? resultsPath = r.GetValue(Results);
        using var results = resultsPath == null ? null : OpenResults(resultsPath);

        var todo = new List<UpscaleJob>();
        foreach (var job in jobs)
        {
            if (q.SkipExisting && job.Outputs.All(File.Exists)) Write(results, job, "skipped", 0, null, null);
            else todo.Add(job);
        }
        int skipped = jobs.Count - todo.Count;
        using var upscaler = UpscaleCommand.Load(q, prepared);
        var progress = new UpscaleProgress(q.Quiet ? ProgressMode.None : q.Progress, todo.Count);
        void Say(string line) { if (!q.Quiet) progress.Say($"pisa: {line}"); }
        var said = new HashSet<string>(StringComparer.Ordinal);
        void SayOnce(string line) { lock (said) if (!said.Add(line)) return; Say(line); }
        Say($"shard {index}/{count}: {todo.Count} input(s) on {upscaler.Backend}{(skipped > 0 ? $", {skipped} skipped (output exists)" : "")}");

        int failed = 0, done = 0;
        // Two images in flight: the next one decodes while the backend works on the current one.
        var inFlight = new Queue<(int Index, UpscaleJob Job, Task<UpscaleOutcome> Task, long Start)>();
        void Drain()
        {
            var (i, job, task, start) = inFlight.Dequeue();
            // Measured once the task has finished (not when it is dequeued, before the wait).
            try { task.Wait(); } catch (AggregateException) { }
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            string name = Program.OneLine(Path.GetFileName(job.Input));
            try
            {
                var outcome = task.GetAwaiter().GetResult();
                UpscaleCommand.Finish(q, job, outcome, many: true, SayOnce);
                done++;
                Write(results, job, "ok", ms, outcome, null);
                foreach (var n in outcome.Notices) SayOnce(n);
                progress.ImageDone(i, name, true);
            }
            catch (PisaException e)
            {
                failed++;
                progress.ImageDone(i, name, false);
                progress.Say($"pisa: error: {Program.OneLine(job.Input)}: {Program.OneLine(e.Message)}");
                Write(results, job, "failed", ms, null, Program.OneLine(e.Message));
            }
        }
        for (int i = 0; i < todo.Count; i++)
        {
            var job = todo[i];
            string name = Program.OneLine(Path.GetFileName(job.Input));
            int image = i;   // the loop variable is shared by the iterations: the plan event needs its own copy
            var task = UpscaleCommand.Start(upscaler, job, q, prepared.Budget, progress.For(i, name), n => SayOnce($"{name}: {n}"),
                plan => progress.Planned(image, name, plan, prepared.Budget.Bytes));
            inFlight.Enqueue((i, job, task, Stopwatch.GetTimestamp()));
            if (inFlight.Count >= 2) Drain();
        }
        while (inFlight.Count > 0) Drain();
        progress.Finish(failed);
        Say($"shard {index}/{count}: {done} done, {skipped} skipped, {failed} failed");
        return failed > 0 ? Program.ExitFailed : Program.ExitOk;
    }

    private static StreamWriter OpenResults(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        try { return new StreamWriter(new FileStream(full, FileMode.Create, FileAccess.Write, FileShare.Read), new UTF8Encoding(false)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PisaException($"cannot write results file '{path}': {e.Message}");
        }
    }

    /// <summary>One JSON line, written and flushed whole: a pod killed mid-shard leaves complete lines only.</summary>
    private static void Write(StreamWriter? w, UpscaleJob job, string status, double ms, UpscaleOutcome? o, string? error)
    {
        if (w == null) return;
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer))
        {
            j.WriteStartObject();
            j.WriteString("input", job.Input);
            j.WriteString("output", job.Output);
            if (job.Outputs.Count > 1)
            {
                // A grid: every pair's file, then the contact sheet.
                j.WriteStartArray("outputs");
                foreach (var path in job.Outputs) j.WriteStringValue(path);
                j.WriteEndArray();
            }
            j.WriteString("status", status);
            j.WriteNumber("ms", Math.Round(ms, 1));
            if (o != null)
            {
                j.WriteNumber("queue_ms", Math.Round(o.QueueMilliseconds, 1));
                j.WriteStartObject("stages_ms");
                foreach (var s in o.Stages) j.WriteNumber(s.Stage, Math.Round(s.Milliseconds, 1));
                j.WriteEndObject();
            }
            if (error != null) j.WriteString("error", error);
            j.WriteEndObject();
        }
        w.Write(Encoding.UTF8.GetString(buffer.ToArray()) + "\n");
        w.Flush();
    }
}
