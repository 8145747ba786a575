using System.CommandLine;
using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Pipeline;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa selftest [--device cuda] [--fixtures DIR] [--no-large]`: every op of the chosen backend against the CPU
/// float32 reference on random inputs of several shapes (SD2.1 sizes included unless --no-large; outputs poisoned
/// before each run), then every golden fixture case on that backend. Pass/fail per item; exit 1 if any fails.
/// </summary>
public static class SelftestCommand
{
    public static Command Build()
    {
        var device = DeviceOption.Create();
        var fixtures = new Option<string?>("--fixtures") { Description = "golden fixture folder (manifest.json); default tests/fixtures/pisa-tiny when present" };
        var noLarge = new Option<bool>("--no-large") { Description = "skip the SD2.1-sized op cases" };
        var large = new Option<bool>("--large") { Description = "with --device ptx: run the SD2.1-sized op cases too (hours of CPU on the interpreter)" };
        var randomModel = new Option<int>("--random-model") { Description = "also run a random-weight SD2.1-shaped model end to end at this output size on the device and on the CPU, and compare (0: off)" };
        var configDir = new Option<string?>("--config-dir") { Description = "with --random-model: unet/, vae/, text_encoder/ configs (default: the SD 2.1-base ones in tests/fixtures/sd21-base)" };
        var cmd = new Command("selftest", "Check a backend op by op against the CPU reference, then on the golden fixtures.") { device, fixtures, noLarge, large, randomModel, configDir };
        cmd.SetAction(r => Run(r.GetValue(device)!, r.GetValue(fixtures), !r.GetValue(noLarge), r.GetValue(randomModel), Console.Out, r.GetValue(configDir),
                               forceLarge: r.GetValue(large)));
        return cmd;
    }

    public static int Run(string device, string? fixtureDir, bool large, int randomModelSize, TextWriter o, string? randomConfigDir = null,
                          bool forceLarge = false)
    {
        using var candidate = BackendFactory.Create(device, n => o.WriteLine($"selftest: {n}"));
        int failed = 0, passed = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (candidate.Name == "ptx" && large && !forceLarge)
        {
            // The SD2.1-sized cases are GPU-sized work (a 4096-token, 512-wide attention is ~10^10 thread-instructions).
            o.WriteLine("selftest: SD2.1-sized op cases skipped on the PTX interpreter (--large runs them; hours of CPU)");
            large = false;
        }

        o.WriteLine($"selftest: ops on {candidate.Name} vs cpu (float32 reference)");
        if (candidate.Name == "cpu")
            o.WriteLine("selftest: the backend is the CPU reference itself, so the op checks compare it with itself (they catch crashes and non-determinism, not numerical errors); run with --device cuda on a GPU machine to check the CUDA backend");
        using (var reference = new CpuOps())
        {
            var checks = OpsSelfTest.Run(reference, candidate, includeLarge: large && candidate.Name != "cpu",
                progress: c => o.WriteLine($"  {(c.Passed ? "pass" : "FAIL")}  {c}"));
            passed += checks.Count(c => c.Passed);
            failed += checks.Count(c => !c.Passed);
        }

        string defaultFixtures = Path.Combine("tests", "fixtures", "pisa-tiny");
        fixtureDir ??= RepoPaths.FindUp(defaultFixtures);
        if (fixtureDir == null)
        {
            o.WriteLine($"selftest: golden cases NOT run: no --fixtures DIR given and no {defaultFixtures} in {Directory.GetCurrentDirectory()}, " +
                        $"{AppContext.BaseDirectory} or a folder above them (run from a checkout, or pass --fixtures PATH/TO/{defaultFixtures})");
        }
        else
        {
            o.WriteLine($"selftest: golden cases from {fixtureDir} on {candidate.Name}");
            using var model = PisaModel.Load(Path.Combine(fixtureDir, "sd"), Path.Combine(fixtureDir, "pisa_sr.pkl"), candidate);
            bool fp16 = candidate.Name != "cpu";
            // The ideal fp16-storage engine on the same model: the error floor of fp16 storage itself (GoldenCheck).
            using var floor = fp16 ? PisaModel.Load(Path.Combine(fixtureDir, "sd"), Path.Combine(fixtureDir, "pisa_sr.pkl"), new Fp16StorageOps(new CpuOps())) : null;
            foreach (var c in GoldenManifest.Load(fixtureDir))
            {
                GoldenResult r;
                try { r = GoldenCheck.Run(model, c, fp16, floor); }
                catch (Exception e) when (e is PisaException or InvalidOperationException or ArgumentException)
                {
                    r = new GoldenResult(c.Name, false, [$"error: {Program.OneLine(e.Message)}"]);
                }
                o.WriteLine($"  {(r.Passed ? "pass" : "FAIL")}  {c.Name}");
                foreach (var line in r.Lines) o.WriteLine($"        {line}");
                if (r.Passed) passed++; else failed++;
            }
        }
        if (randomModelSize > 0)
        {
            bool ok = RandomModelCheck(candidate, randomModelSize, randomConfigDir, o);
            if (ok) passed++; else failed++;
        }
        if (candidate is Engine.Backends.Cuda.CudaOps { Runtime: Engine.Backends.Cuda.PtxGpuRuntime ptx })
        {
            o.WriteLine($"selftest: PTX interpreter ran {ptx.Launches} kernel launches, {ptx.TotalInstructions:N0} thread-instructions; counters per kernel:");
            o.Write(Engine.Backends.Cuda.PtxCounterReport.Format(ptx.Tallies));
        }
        o.WriteLine($"selftest: {passed} passed, {failed} failed ({clock.Elapsed.TotalSeconds:F1} s)");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>
    /// The real SD2.1 shapes with seeded random weights (no real weights can be had on the check machines): the
    /// whole pipeline at size x size output on the candidate and on the CPU with identical weights; every
    /// intermediate compared under the fp16 tolerances, and no NaN.
    /// </summary>
    private static bool RandomModelCheck(IOps candidate, int size, string? configDir, TextWriter o)
    {
        configDir ??= RepoPaths.FindUp(Path.Combine("tests", "fixtures", "sd21-base"));
        if (configDir == null) { o.WriteLine("  FAIL  random model: no tests/fixtures/sd21-base here"); return false; }
        string? tokenizer = RepoPaths.FindUp(Path.Combine("tests", "fixtures", "pisa-tiny", "sd", "tokenizer"));
        o.WriteLine($"selftest: random SD2.1-shaped model, {size}x{size} output, {candidate.Name} vs cpu");
        var input = SyntheticImage(size / 4);
        // process_size = the output size keeps the input (size/4) off the small-input enlarging path.
        var options = new UpscaleOptions { ProcessSize = size };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Dictionary<string, Engine.Tensors.HostTensor> got, want;
        using (var model = RandomModel.Create(candidate, configDir, tokenizer))
            got = new UpscalePipeline(model).Run(input, options, keepTensors: true).Tensors!;
        double candidateMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        using (var cpu = new CpuOps())
        using (var model = RandomModel.Create(cpu, configDir, tokenizer))
            want = new UpscalePipeline(model).Run(input, options, keepTensors: true).Tensors!;
        o.WriteLine($"  ({candidate.Name} {candidateMs / 1000:F1} s incl. load, cpu {sw.Elapsed.TotalSeconds:F1} s)");
        bool ok = true;
        foreach (var name in new[] { "prompt_embeds", "lq_latent", "unet_pred", "hq_latent", "decoded" })
        {
            double rel = Engine.Tensors.TensorMetrics.RelativeL2(got[name].Data, want[name].Data);
            bool nan = got[name].Data.Any(v => !float.IsFinite(v));
            double tol = name == "decoded" ? 2e-2 : 1e-2;
            bool pass = !nan && rel < tol;
            ok &= pass;
            o.WriteLine($"  {(pass ? "pass" : "FAIL")}  random model {name}: relative L2 {rel:E2} (limit {tol:E0}){(nan ? ", non-finite values" : "")}");
        }
        return ok;
    }

    /// <summary>A deterministic test card: gradients plus a checkerboard, so every stage sees structure.</summary>
    private static Engine.Imaging.RgbImage SyntheticImage(int side)
    {
        var img = new Engine.Imaging.RgbImage(side, side);
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                int i = (y * side + x) * 3;
                bool check = ((x / 8) + (y / 8)) % 2 == 0;
                img.Data[i] = (byte)(255 * x / Math.Max(1, side - 1));
                img.Data[i + 1] = (byte)(255 * y / Math.Max(1, side - 1));
                img.Data[i + 2] = (byte)(check ? 220 : 35);
            }
        return img;
    }
}
