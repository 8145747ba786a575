using System.Diagnostics;
using System.Globalization;
using System.Text;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;
using PiSa.Ptx;

namespace PiSa.Engine.Bench.Kernels;

// The bench/kernels harness (compiled into PiSa.Engine, driven by `pisa kernels`): each kernel family keeps its
// versions side by side; every version is checked against the CPU float32 reference on random inputs, then timed
// with CUDA events on a GPU, or its interpreter counters are reported on --device ptx. See bench/kernels/README.md.

/// <summary>One input case of a family: random inputs, the CPU reference output, and the work it stands for.</summary>
public abstract class KernelCase
{
    public abstract string Name { get; }
    /// <summary>Small enough for the PTX interpreter (a few seconds per version); the rest are GPU-sized.</summary>
    public abstract bool Small { get; }
    /// <summary>The least DRAM traffic the op needs (reading inputs, writing outputs once), for GB/s.</summary>
    public abstract double Bytes { get; }
    /// <summary>Floating-point operations (2 per multiply-add), for TFLOP/s; 0 for memory-bound families.</summary>
    public virtual double Flops => 0;
    /// <summary>The inputs, made once from the case's seed.</summary>
    public abstract HostTensor[] Inputs();
    /// <summary>The output on the float32 CPU backend (the reference).</summary>
    public abstract HostTensor Reference(IOps cpu, DeviceTensor[] inputs);
}

/// <summary>One version of a kernel family: launches its kernels for a case through the CUDA backend.</summary>
public interface IKernelVersion
{
    /// <summary>Short name used on the command line ("v2-fused").</summary>
    string Name { get; }
    /// <summary>One line: what the version does differently.</summary>
    string Summary { get; }
    /// <summary>Runs the version on uploaded inputs and returns its output (owned by the caller).</summary>
    DeviceTensor Run(CudaOps ops, KernelCase c, DeviceTensor[] inputs);
    /// <summary>Why this version cannot run on this backend (e.g. wgmma off sm_90), or null: it is then listed as
    /// skipped, not failed.</summary>
    string? Unavailable(CudaOps ops) => null;
}

/// <summary>A family: its versions (oldest first) and cases, and the relative L2 its versions must stay within.</summary>
public interface IKernelFamily
{
    string Name { get; }
    string Summary { get; }
    double Tolerance { get; }
    IReadOnlyList<IKernelVersion> Versions { get; }
    IReadOnlyList<KernelCase> Cases { get; }
}

/// <summary>The result of one version on one case.</summary>
public sealed record KernelBenchResult(string Family, string Version, string Case, double RelL2, double Tolerance, string? Error,
    int Launches, double[]? TimesMs, double Bytes, double Flops, PtxLaunchStats? Counters, string? Skipped = null)
{
    public bool Passed => Skipped is not null || (Error is null && RelL2 <= Tolerance);
    public double MedianMs => TimesMs is { Length: > 0 } t ? new BenchStats(Version, t).Median : double.NaN;
}

/// <summary>Runs families' versions: check against the CPU, then CUDA event times or interpreter counters.</summary>
public sealed class KernelBench(CudaOps ops, int warmup = 3, int runs = 20)
{
    private readonly PiSaCudaRuntime? _cuda = ops.Runtime as PiSaCudaRuntime;

    public IEnumerable<KernelBenchResult> Run(IKernelFamily family, Func<IKernelVersion, bool>? version = null, bool smallOnly = false)
    {
        using var cpu = new CpuOps();
        foreach (var c in family.Cases)
        {
            if (smallOnly && !c.Small) continue;
            var inputs = c.Inputs();
            HostTensor want;
            using (var lease = new Uploaded(cpu, inputs)) want = c.Reference(cpu, lease.Tensors);
            foreach (var v in family.Versions)
                if (version is null || version(v))
                    yield return v.Unavailable(ops) is { } why
                        ? new KernelBenchResult(family.Name, v.Name, c.Name, double.NaN, family.Tolerance, null, 0, null, c.Bytes, c.Flops, null, why)
                        : RunOne(family, v, c, inputs, want);
        }
    }

    private KernelBenchResult RunOne(IKernelFamily f, IKernelVersion v, KernelCase c, HostTensor[] inputs, HostTensor want)
    {
        try
        {
            using var dev = new Uploaded(ops, inputs);
            var counter = new LaunchCounter(ops.Runtime as PtxGpuRuntime);
            ops.LaunchObserver = counter;
            HostTensor got;
            try
            {
                using var y = v.Run(ops, c, dev.Tensors);
                ops.Synchronize();
                ops.LaunchObserver = null;
                got = ops.Download(y);
            }
            finally { ops.LaunchObserver = null; }
            double e = ShapeUtil.Equal(got.Shape, want.Shape) ? RelL2(got.Data, want.Data) : double.NaN;
            string? error = double.IsNaN(e) ? (ShapeUtil.Equal(got.Shape, want.Shape) ? "NaN in the output"
                : $"shape [{ShapeUtil.Format(got.Shape)}] vs reference [{ShapeUtil.Format(want.Shape)}]") : null;
            double[]? times = _cuda is null || error is not null ? null : Time(v, c, dev.Tensors);
            return new KernelBenchResult(f.Name, v.Name, c.Name, e, f.Tolerance, error, counter.Launches, times, c.Bytes, c.Flops, counter.Counters);
        }
        catch (Exception ex) when (ex is PisaException or InvalidOperationException or ArgumentException or PiSa.Cuda.CudaException)
        {
            return new KernelBenchResult(f.Name, v.Name, c.Name, double.NaN, f.Tolerance, ex.Message, 0, null, c.Bytes, c.Flops, null);
        }
    }

    /// <summary>Each run bracketed by CUDA events on the backend's stream; warm-up runs first (compile, weight upload).</summary>
    private double[] Time(IKernelVersion v, KernelCase c, DeviceTensor[] inputs)
    {
        for (int i = 0; i < warmup; i++) v.Run(ops, c, inputs).Dispose();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            using var start = PiSa.Cuda.CudaEvent.Create();
            using var end = PiSa.Cuda.CudaEvent.Create();
            start.Record(_cuda!.StreamHandle);
            var y = v.Run(ops, c, inputs);
            end.Record(_cuda.StreamHandle);
            end.Synchronize();
            times[i] = PiSa.Cuda.CudaEvent.ElapsedMs(start, end);
            y.Dispose();
        }
        return times;
    }

    private static double RelL2(float[] got, float[] want)
    {
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++) { double d = (double)got[i] - want[i]; num += d * d; den += (double)want[i] * want[i]; }
        return Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 1e-30);
    }

    /// <summary>The table `pisa kernels` prints: one row per version and case.</summary>
    public static string Format(IReadOnlyList<KernelBenchResult> results, bool onInterpreter)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        if (onInterpreter)
            sb.AppendLine(inv, $"{"",-4} {"family",-10} {"version",-16} {"case",-40} {"relL2",9} {"launches",8} {"Minstr",10} {"sect/req",8} {"wave/req",8} {"MB r/w",14}");
        else
            sb.AppendLine(inv, $"{"",-4} {"family",-10} {"version",-16} {"case",-40} {"relL2",9} {"launches",8} {"median ms",10} {"min ms",9} {"max ms",9} {"GB/s",8} {"TFLOP/s",8}");
        foreach (var r in results)
        {
            if (r.Skipped is not null)
            {
                sb.AppendLine(inv, $"{"skip",-4} {r.Family,-10} {r.Version,-16} {r.Case,-40}  {r.Skipped}");
                continue;
            }
            string head = string.Format(inv, "{0,-4} {1,-10} {2,-16} {3,-40} {4,9:E2} {5,8}", r.Passed ? "ok" : "FAIL", r.Family, r.Version, r.Case, r.RelL2, r.Launches);
            if (r.Error is not null) { sb.AppendLine(inv, $"{head}  {r.Error}"); continue; }
            if (onInterpreter)
            {
                var s = r.Counters;
                string rw = s is null ? "-" : $"{s.GlobalBytesRead / 1e6:F2}/{s.GlobalBytesWritten / 1e6:F2}";
                sb.AppendLine(inv, $"{head} {(s?.TotalInstructions ?? 0) / 1e6,10:F2} {(s?.SectorsPerRequest ?? 0),8:F2} {(s?.WavefrontsPerSharedRequest ?? 0),8:F2} {rw,14}");
            }
            else if (r.TimesMs is { Length: > 0 } t)
            {
                double med = r.MedianMs;
                string gbs = r.Bytes > 0 ? (r.Bytes / (med * 1e-3) / 1e9).ToString("F0", inv) : "-";
                string tfs = r.Flops > 0 ? (r.Flops / (med * 1e-3) / 1e12).ToString("F1", inv) : "-";
                sb.AppendLine(inv, $"{head} {med,10:F4} {t.Min(),9:F4} {t.Max(),9:F4} {gbs,8} {tfs,8}");
            }
            else sb.AppendLine(head);
        }
        int failed = results.Count(r => !r.Passed);
        string what = onInterpreter ? "interpreter counters, not GPU times" : "CUDA event times per run";
        sb.AppendLine(inv, $"{results.Count - failed}/{results.Count} checks passed ({what})");
        return sb.ToString();
    }

    /// <summary>Uploads inputs to a backend and disposes them together.</summary>
    private sealed class Uploaded : IDisposable
    {
        public DeviceTensor[] Tensors { get; }
        public Uploaded(IOps ops, HostTensor[] inputs)
        {
            Tensors = new DeviceTensor[inputs.Length];
            try { for (int i = 0; i < inputs.Length; i++) Tensors[i] = ops.Upload(inputs[i]); }
            catch { Dispose(); throw; }
        }
        public void Dispose() { foreach (var t in Tensors) t?.Dispose(); }
    }

    /// <summary>Counts the version's launches and sums the interpreter's counters of each.</summary>
    private sealed class LaunchCounter(PtxGpuRuntime? ptx) : ILaunchObserver
    {
        public int Launches;
        public PtxLaunchStats? Counters;
        public void BeforeLaunch(string kernel, Dim3 grid, Dim3 block, KernelArgs args) { }
        public void AfterLaunch(string kernel, Dim3 grid, Dim3 block, KernelArgs args)
        {
            Launches++;
            if (ptx?.LastLaunchStats is { } s) (Counters ??= new PtxLaunchStats()).Add(s);
        }
        public void BeforeLinear(int rows, int inF, int outF) { }
        public void AfterLinear(int rows, int inF, int outF) => Launches++;
    }
}
