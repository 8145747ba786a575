using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Tests.Cli;
using PiSa.Tests.Formats;

namespace PiSa.Tests.Hostile;

/// <summary>
/// A seeded, bounded mutation fuzz of the four kinds of untrusted input (issue 12, deliverable 6). In process,
/// PISA_FUZZ_ITERATIONS (default 5000) mutants per kind go through <see cref="FuzzTargets"/>: only acceptance or
/// a PisaException is allowed, each input within a time and allocation bound. A few mutants per kind then go
/// through the `pisa` process: exit 0 or 1, no stack trace, no internal error, no output or temporary left on
/// failure, bounded time and peak memory. PISA_FUZZ_SEED changes the campaign; a failure names the seed, the
/// kind and the iteration, which reproduce it (PISA_FUZZ_DUMP=DIR also writes the inputs). Long campaigns: tests/PiSa.Fuzz (SharpFuzz, libFuzzer/AFL).
/// </summary>
public sealed class FuzzTests
{
    private static readonly int Iterations = EnvInt("PISA_FUZZ_ITERATIONS", 5000);
    private static readonly int Seed = EnvInt("PISA_FUZZ_SEED", 12);
    /// <summary>Per input, in process. Generous for a loaded 2-core machine; a hang or a bomb blows past it.</summary>
    private static readonly TimeSpan MaxTimePerInput = TimeSpan.FromSeconds(5);
    private const long MaxAllocationPerInput = 256L << 20;
    private const long MaxProcessPeak = 1536L << 20;
    private const int ProcessSamplesPerKind = 4;
    /// <summary>PISA_FUZZ_DUMP: a folder where every finding's input is written (to reproduce or minimise it).</summary>
    private static readonly string? DumpDir = Environment.GetEnvironmentVariable("PISA_FUZZ_DUMP");

    private static int EnvInt(string name, int dflt) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : dflt;

    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;

    // ---- seeds and how each kind is mutated ---------------------------------------------------------

    private static readonly byte[][] SmallPickles =
    [
        new PickleBuilder().Proto(2).EmptyDict()
            .Str("w").Tensor("FloatStorage", "0", 6, 0, [2, 3], [3, 1]).SetItem()
            .Str("h").Tensor("HalfStorage", "1", 8, 1, [3], [2]).SetItem()
            .Str("n").Int(4).SetItem()
            .Str("names").EmptyList().Mark().Str("down_blocks.0.conv1").Str("mid_block.attentions.0.to_q").Op('e').SetItem()
            .Str("t").IntTuple(1, 2, 3).SetItem()
            .Stop().ToArray(),
        HostileFiles.BillionLaughsPickle(12),
    ];

    private static readonly Dictionary<string, byte[]> SmallStorages = new()
    {
        ["0"] = PickleBuilder.FloatBytes(1, 2, 3, 4, 5, 6),
        ["1"] = new byte[16],
    };

    private static byte[] MutateCheckpoint(Random rng)
    {
        var pickle = SmallPickles[rng.Next(SmallPickles.Length)];
        // Half the time the pickle itself, re-zipped honestly (reaches the unpickler); else the zip's bytes.
        return rng.Next(2) == 0
            ? HostileFiles.TorchZip(Mutator.Mutate(pickle, rng, text: false), SmallStorages)
            : Mutator.Mutate(HostileFiles.TorchZip(pickle, SmallStorages), rng, text: false);
    }

    private static readonly byte[][] SafetensorsSeeds = [HostileFiles.ValidSafetensors(), PisaMetadataSafetensors()];

    /// <summary>The fixture LoRA's __metadata__ (module lists as JSON in strings) over one small tensor.</summary>
    private static byte[] PisaMetadataSafetensors()
    {
        using var st = SafetensorsFile.Open(Path.Combine(FixturePaths.Tiny, "pisa_sr.safetensors"));
        var header = new System.Text.Json.Nodes.JsonObject();
        var meta = new System.Text.Json.Nodes.JsonObject();
        foreach (var (k, v) in st.Metadata) meta[k] = Shorten(v);
        header["__metadata__"] = meta;
        header["w"] = System.Text.Json.Nodes.JsonNode.Parse("{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}");
        return HostileFiles.Safetensors(header.ToJsonString(), 16);
    }

    /// <summary>A JSON list of names cut to its first few entries (small seeds fuzz faster).</summary>
    private static string Shorten(string v)
    {
        int cut = v.Length > 400 ? v.IndexOf(", ", 300, StringComparison.Ordinal) : -1;
        return cut > 0 && v.StartsWith('[') ? v[..cut] + "]" : v;
    }

    private static byte[] MutateSafetensors(Random rng)
    {
        var seed = SafetensorsSeeds[rng.Next(SafetensorsSeeds.Length)];
        if (rng.Next(2) == 0) return Mutator.Mutate(seed, rng, text: false);
        // The header as text, with the length prefix kept true so the mutant reaches the JSON checks.
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(seed);
        var header = Mutator.Mutate(seed[8..(int)(8 + headerLength)], rng, text: true);
        return HostileFiles.Safetensors(header, seed.Length - 8 - (int)headerLength);
    }

    private static readonly byte[][] ImageSeeds = MakeImageSeeds();

    private static byte[][] MakeImageSeeds()
    {
        var seeds = Directory.GetFiles(Path.Combine(FixturePaths.Tiny, "inputs"), "*.png").Order().Select(File.ReadAllBytes).ToList();
        var img = ImageIO.Decode(seeds[0], "seed");
        using var dir = new TempDir();
        foreach (var ext in new[] { ".jpg", ".bmp", ".tga", ".webp", ".tiff", ".gif" })
        {
            try { ImageIO.Save(img, dir.File("seed" + ext)); }
            catch (PiSa.Engine.PisaException) { continue; } // a format the encoder does not write (GIF)
            seeds.Add(File.ReadAllBytes(dir.File("seed" + ext)));
        }
        return seeds.ToArray();
    }

    private static byte[] MutateImage(Random rng) => Mutator.Mutate(ImageSeeds[rng.Next(ImageSeeds.Length)], rng, text: false);

    private static readonly (string Folder, byte[] Json)[] ConfigSeeds =
        new[] { "unet", "vae", "text_encoder" }.Select(f => (f, File.ReadAllBytes(Path.Combine(Sd, f, "config.json")))).ToArray();

    private static byte[] MutateConfig(Random rng, out string folder)
    {
        var (f, json) = ConfigSeeds[rng.Next(ConfigSeeds.Length)];
        folder = f;
        return Mutator.Mutate(json, rng, text: true);
    }

    private static byte[] Mutant(FuzzKind kind, Random rng, out string configFolder)
    {
        configFolder = "";
        return kind switch
        {
            FuzzKind.Checkpoint => MutateCheckpoint(rng),
            FuzzKind.Safetensors => MutateSafetensors(rng),
            FuzzKind.Image => MutateImage(rng),
            _ => MutateConfig(rng, out configFolder),
        };
    }

    // ---- in process ---------------------------------------------------------------------------------

    [Theory]
    [InlineData(FuzzKind.Checkpoint)]
    [InlineData(FuzzKind.Safetensors)]
    [InlineData(FuzzKind.Image)]
    [InlineData(FuzzKind.Config)]
    public void Mutated_inputs_are_accepted_or_refused_cleanly_in_process(FuzzKind kind)
    {
        using var dir = new TempDir();
        var targets = new FuzzTargets(dir.File("scratch"), Sd);
        var rng = new Random(Seed * 31 + (int)kind); // HashCode is randomised per process: not for seeds
        var findings = new List<string>();
        int accepted = 0;
        var total = Stopwatch.StartNew();
        for (int i = 0; i < Iterations && findings.Count < 10; i++)
        {
            var data = Mutant(kind, rng, out _);
            var run = RunBounded(() => targets.Run(kind, data));
            string where = $"{kind} seed {Seed} iteration {i} ({data.Length} bytes)";
            if (DumpDir is string dump && (run.Hung || run.Error != null || run.Allocated > MaxAllocationPerInput))
                File.WriteAllBytes(Path.Combine(Directory.CreateDirectory(dump).FullName, $"{kind}-{Seed}-{i}.bin"), data);
            if (run.Hung)
            {
                // The reader still spins on its (background) thread: stop this campaign rather than pile up more.
                findings.Add($"{where}: still running after {MaxTimePerInput.TotalSeconds} s");
                break;
            }
            if (run.Error is Exception e)
            {
                string at = e.StackTrace?.Split('\n').FirstOrDefault(l => l.Contains("PiSa."))?.Trim() ?? "";
                findings.Add($"{where}: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")} {at}");
            }
            else if (run.Accepted) accepted++;
            if (run.Allocated > MaxAllocationPerInput)
                findings.Add($"{where}: allocated {run.Allocated >> 20} MiB");
        }
        Console.WriteLine($"fuzz {kind}: {Iterations} mutants (seed {Seed}), {accepted} accepted, {total.ElapsedMilliseconds} ms");
        Assert.True(findings.Count == 0, string.Join("\n", findings));
        // The mutator must leave some inputs valid and make most invalid, or it tests nothing.
        Assert.InRange(accepted, 1, Iterations - Iterations / 10);
    }

    /// <summary>One input on its own thread, so a hang is reported (not waited for) and allocation is that thread's.</summary>
    private static (bool Accepted, Exception? Error, long Allocated, bool Hung) RunBounded(Func<bool> target)
    {
        bool accepted = false;
        Exception? error = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { accepted = target(); }
            catch (Exception e) { error = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, 16 << 20) { IsBackground = true };
        thread.Start();
        if (!thread.Join(MaxTimePerInput)) return (false, null, 0, true);
        return (accepted, error, allocated, false);
    }

    // ---- through the pisa process -------------------------------------------------------------------

    [Theory]
    [InlineData(FuzzKind.Checkpoint)]
    [InlineData(FuzzKind.Safetensors)]
    [InlineData(FuzzKind.Image)]
    [InlineData(FuzzKind.Config)]
    public void A_sample_through_the_pisa_process_keeps_the_contract(FuzzKind kind)
    {
        using var dir = new TempDir();
        var rng = new Random(Seed * 31 + (int)kind + 1000);
        for (int i = 0; i < ProcessSamplesPerKind; i++)
        {
            var data = Mutant(kind, rng, out string folder);
            string outDir = Directory.CreateDirectory(dir.File($"out{i}")).FullName;
            string[] args;
            string output;
            switch (kind)
            {
                case FuzzKind.Checkpoint:
                    File.WriteAllBytes(dir.File($"m{i}.pkl"), data);
                    output = Path.Combine(outDir, "x.safetensors");
                    args = i % 2 == 0 ? ["inspect", dir.File($"m{i}.pkl")] : ["convert", dir.File($"m{i}.pkl"), "-o", output];
                    break;
                case FuzzKind.Safetensors:
                    File.WriteAllBytes(dir.File($"m{i}.safetensors"), data);
                    output = Path.Combine(outDir, "never");
                    args = ["inspect", dir.File($"m{i}.safetensors")];
                    break;
                case FuzzKind.Image:
                    File.WriteAllBytes(dir.File($"m{i}.png"), data);
                    output = Path.Combine(outDir, "x.png");
                    args = ["upscale", dir.File($"m{i}.png"), "-o", output, "--model", Sd, "--lora", Lora, "--process-size", "64", "--device", "cpu"];
                    break;
                default:
                    string sd = HostileFiles.CopyTinyModel(dir.File($"sd{i}"));
                    File.WriteAllBytes(Path.Combine(sd, folder, "config.json"), data);
                    output = Path.Combine(outDir, "x.png");
                    args = ["upscale", Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"), "-o", output, "--model", sd, "--lora", Lora, "--process-size", "64", "--device", "cpu"];
                    break;
            }
            var (r, peak, elapsed) = RunMeasured(args);
            string what = $"{kind} seed {Seed} process sample {i} (pisa {string.Join(' ', args.Take(2))}): exit {r.ExitCode}, {elapsed.TotalSeconds:F1} s, peak {peak >> 20} MiB\n{r.Stderr}";
            Assert.True(r.ExitCode is 0 or 1, what);
            Assert.DoesNotContain("   at ", r.Stderr);
            Assert.DoesNotContain("internal error", r.Stderr);
            Assert.DoesNotContain("Exception", r.Stderr);
            Assert.True(peak < MaxProcessPeak, what);
            Assert.True(elapsed < TimeSpan.FromSeconds(60), what);
            if (r.ExitCode != 0) Assert.False(File.Exists(output), "output left by a failed run: " + what);
            Assert.DoesNotContain(Directory.GetFiles(outDir), f => AtomicFile.IsTemporary(f));
        }
    }

    /// <summary>Runs pisa, polling its peak resident set (VmHWM) until it exits.</summary>
    private static (PisaProcess.Result Result, long PeakBytes, TimeSpan Elapsed) RunMeasured(string[] args)
    {
        var watch = Stopwatch.StartNew();
        using var p = Process.Start(PisaProcess.StartInfo(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = 0;
        while (!p.WaitForExit(20))
        {
            peak = Math.Max(peak, HighWaterMark(p.Id));
            if (watch.Elapsed > TimeSpan.FromSeconds(120)) { p.Kill(true); break; }
        }
        p.WaitForExit();
        return (new PisaProcess.Result(p.HasExited ? p.ExitCode : -1, stdout.Result, stderr.Result), peak, watch.Elapsed);
    }

    private static long HighWaterMark(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        catch (FormatException) { }
        return 0;
    }

    /// <summary>The mutator is deterministic: the same seed gives the same campaign (so a failure reproduces).</summary>
    [Fact]
    public void The_campaign_is_reproducible_from_its_seed()
    {
        byte[] A(int s) { var rng = new Random(s); return Enumerable.Range(0, 20).SelectMany(_ => MutateImage(rng)).ToArray(); }
        Assert.Equal(A(5), A(5));
        Assert.NotEqual(A(5), A(6));
    }
}

