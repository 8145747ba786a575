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
        var cmd = new Command("selftest", "Check a backend op by op against the CPU reference, then on the golden fixtures.") { device, fixtures, noLarge };
        cmd.SetAction(r => Run(r.GetValue(device)!, r.GetValue(fixtures), !r.GetValue(noLarge), Console.Out));
        return cmd;
    }

    public static int Run(string device, string? fixtureDir, bool large, TextWriter o)
    {
        using var candidate = BackendFactory.Create(device, n => o.WriteLine($"selftest: {n}"));
        int failed = 0, passed = 0;

        o.WriteLine($"selftest: ops on {candidate.Name} vs cpu (float32 reference)");
        using (var reference = new CpuOps())
        {
            var checks = OpsSelfTest.Run(reference, candidate, includeLarge: large && candidate.Name != "cpu",
                progress: c => o.WriteLine($"  {(c.Passed ? "pass" : "FAIL")}  {c}"));
            passed += checks.Count(c => c.Passed);
            failed += checks.Count(c => !c.Passed);
        }

        fixtureDir ??= Directory.Exists(Path.Combine("tests", "fixtures", "pisa-tiny")) ? Path.Combine("tests", "fixtures", "pisa-tiny") : null;
        if (fixtureDir == null)
        {
            o.WriteLine("selftest: golden cases skipped (no --fixtures and no tests/fixtures/pisa-tiny here)");
        }
        else
        {
            o.WriteLine($"selftest: golden cases from {fixtureDir} on {candidate.Name}");
            using var model = PisaModel.Load(Path.Combine(fixtureDir, "sd"), Path.Combine(fixtureDir, "pisa_sr.pkl"), candidate);
            foreach (var c in GoldenManifest.Load(fixtureDir))
            {
                GoldenResult r;
                try { r = GoldenCheck.Run(model, c, fp16: candidate.Name != "cpu"); }
                catch (Exception e) when (e is PisaException or InvalidOperationException or ArgumentException)
                {
                    r = new GoldenResult(c.Name, false, [$"error: {Program.OneLine(e.Message)}"]);
                }
                o.WriteLine($"  {(r.Passed ? "pass" : "FAIL")}  {c.Name}");
                foreach (var line in r.Lines) o.WriteLine($"        {line}");
                if (r.Passed) passed++; else failed++;
            }
        }
        o.WriteLine($"selftest: {passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }
}
