using System.CommandLine;
using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Bench.Kernels;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa kernels [--device cuda|ptx] [--family F] [--version V] [--small] [--warmup N] [--runs N] [--list]`: the
/// bench/kernels harness. Every version of every family (or the chosen ones) is checked against the CPU float32
/// reference on each case, then timed with CUDA events (median, min, max, GB/s or TFLOP/s) on cuda, or its interpreter
/// counters printed on ptx (where only the interpreter-sized cases run). Exit 1 if any check fails.
/// </summary>
public static class KernelsCommand
{
    public static Command Build()
    {
        var device = Choices.Create("--device", "cuda (check + CUDA event times) or ptx (check + interpreter counters, small cases only)", "cuda", "cuda", "ptx");
        var family = new Option<string?>("--family") { Description = "only this family (see --list)" };
        var version = new Option<string?>("--version") { Description = "only this version of each family (see --list)" };
        var small = new Option<bool>("--small") { Description = "only the interpreter-sized cases (always so on ptx)" };
        var warmup = new Option<int>("--warmup") { Description = "untimed runs per version and case (cuda)", DefaultValueFactory = _ => 3 };
        var runs = new Option<int>("--runs") { Description = "timed runs per version and case (cuda)", DefaultValueFactory = _ => 20 };
        var list = new Option<bool>("--list") { Description = "list the families, versions and cases, and run nothing" };
        var cmd = new Command("kernels", "Kernel families side by side: each version checked against the CPU, then timed (cuda) or counted (ptx).")
        {
            device, family, version, small, warmup, runs, list,
        };
        cmd.SetAction(r => Run(r.GetValue(device)!, r.GetValue(family), r.GetValue(version), r.GetValue(small), r.GetValue(warmup), r.GetValue(runs),
                               r.GetValue(list), Console.Out));
        return cmd;
    }

    public static int Run(string device, string? familyName, string? versionName, bool small, int warmup, int runs, bool list, TextWriter o)
    {
        if (warmup < 0 || runs < 1) throw new PisaException($"pisa kernels: --warmup {warmup} / --runs {runs} (need --warmup >= 0 and --runs >= 1)");
        var families = familyName is null ? KernelFamilies.All
            : [KernelFamilies.Find(familyName) ?? throw new PisaException($"pisa kernels: no family '{familyName}' (families: {string.Join(", ", KernelFamilies.All.Select(f => f.Name))})")];
        if (versionName is not null && !families.Any(f => f.Versions.Any(v => v.Name == versionName)))
            throw new PisaException($"pisa kernels: no version '{versionName}' in {string.Join(", ", families.Select(f => f.Name))} " +
                                    $"(versions: {string.Join(", ", families.SelectMany(f => f.Versions).Select(v => v.Name))})");
        if (list)
        {
            foreach (var f in families)
            {
                o.WriteLine($"{f.Name}: {f.Summary} (tolerance relL2 {f.Tolerance:E0})");
                foreach (var v in f.Versions) o.WriteLine($"  version {v.Name,-18} {v.Summary}");
                foreach (var c in f.Cases) o.WriteLine($"  case    {c.Name,-40} {(c.Small ? "small (ptx and cuda)" : "cuda only")}");
            }
            return Program.ExitOk;
        }

        using var ops = BackendFactory.Create(device, n => Console.Error.WriteLine($"pisa: {n}"));
        var cuda = ops as CudaOps ?? throw new PisaException($"pisa kernels: --device {device} did not give the CUDA backend");
        bool onInterpreter = cuda.Name == "ptx";
        var bench = new KernelBench(cuda, warmup, runs);
        o.WriteLine($"pisa kernels: {cuda.Name} ({cuda.Runtime.Arch}){(onInterpreter ? ", interpreter-sized cases only" : $", {warmup} warm-up + {runs} timed runs each")}");
        var results = new List<KernelBenchResult>();
        foreach (var f in families)
            results.AddRange(bench.Run(f, versionName is null ? null : v => v.Name == versionName, smallOnly: small || onInterpreter));
        o.Write(KernelBench.Format(results, onInterpreter));
        return results.All(r => r.Passed) ? Program.ExitOk : Program.ExitFailed;
    }
}
