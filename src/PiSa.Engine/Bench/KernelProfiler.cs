using System.Globalization;
using System.Text;
using System.Text.Json;
using CudaEvent = PiSa.Cuda.CudaEvent;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Formats;
using PiSa.Ptx;

namespace PiSa.Engine.Bench;

/// <summary>
/// `pisa profile`'s recorder: every kernel launch and GEMM of CudaOps, attributed to the open ranges (stage, block).
/// On CUDA each launch is bracketed by two events on the runtime's stream (times read after the run); on the PTX
/// interpreter each launch's counters are kept instead (instructions, mma, sectors per request, bank conflicts,
/// bytes), so two versions of a kernel can be compared on any machine. FLOPs are counted from the launch
/// arguments for convolutions, attention and GEMMs.
/// </summary>
public sealed class KernelProfiler : ILaunchObserver, IDisposable
{
    private readonly CudaOps _ops;
    private readonly PtxGpuRuntime? _ptx;
    private readonly PiSaCudaRuntime? _cuda;
    private readonly List<Launch> _launches = new();
    private CudaEvent? _pending;
    private readonly bool _graphsWere;

    public sealed class Launch
    {
        public required string Range { get; init; }
        public required string Kernel { get; init; }
        public double Flops { get; init; }
        public CudaEvent? Start, End;
        public double Ms;
        public PtxLaunchStats? Counters;
    }

    public KernelProfiler(CudaOps ops)
    {
        _ops = ops;
        _ptx = ops.Runtime as PtxGpuRuntime;
        _cuda = ops.Runtime as PiSaCudaRuntime;
        ops.LaunchObserver = this;
        // Every launch must be issued on its own to be timed or counted: with PISA_CUDA_GRAPHS=1 the profiled pass
        // would be recorded (launches deferred, events inside the capture) or replayed (no launch seen at all).
        _graphsWere = ops.UseGraphs;
        ops.UseGraphs = false;
    }

    public bool OnInterpreter => _ptx is not null;
    public IReadOnlyList<Launch> Launches => _launches;

    public void BeforeLaunch(string kernel, Dim3 grid, Dim3 block, KernelArgs args) => Begin();
    public void AfterLaunch(string kernel, Dim3 grid, Dim3 block, KernelArgs args) => End(kernel, KernelFlops(kernel, grid, args));
    public void BeforeLinear(int rows, int inF, int outF) => Begin();
    public void AfterLinear(int rows, int inF, int outF) => End(OnInterpreter ? "cublasLt gemm (CPU contract)" : "cublasLt gemm", 2.0 * rows * inF * outF);

    private void Begin()
    {
        if (_cuda is null) return;
        _pending = CudaEvent.Create();
        _pending.Record(_cuda.StreamHandle);
    }

    private void End(string kernel, double flops)
    {
        var l = new Launch { Range = _ops.RangePath, Kernel = kernel, Flops = flops };
        if (_cuda is not null)
        {
            l.Start = _pending;
            l.End = CudaEvent.Create();
            l.End.Record(_cuda.StreamHandle);
            _pending = null;
        }
        else if (_ptx?.LastLaunchStats is { } s && !kernel.StartsWith("cublasLt", StringComparison.Ordinal))
        {
            l.Counters = new PtxLaunchStats();
            l.Counters.Add(s);   // a copy: the runtime keeps adding into its own objects
        }
        _launches.Add(l);
    }

    /// <summary>Reads the CUDA event times (after the work finished).</summary>
    public void Complete()
    {
        if (_cuda is null) return;
        _ops.Synchronize();
        foreach (var l in _launches)
            if (l.Start is not null && l.End is not null && l.Ms == 0) l.Ms = CudaEvent.ElapsedMs(l.Start, l.End);
    }

    /// <summary>2 * multiply-adds, from the arguments (see kernels/*.cu for their order).</summary>
    public static double KernelFlops(string kernel, Dim3 grid, KernelArgs a) => kernel switch
    {
        // N, H, W, C, O, OH, OW, KH, KW at 5..13
        "conv2d_igemm_f16" => 2.0 * a.IntAt(5) * a.IntAt(10) * a.IntAt(11) * a.IntAt(9) * a.IntAt(8) * a.IntAt(12) * a.IntAt(13),
        // conv_pipe.cu: N, H, W, C, O, OH, OW, KH, KW at 6..14 (its split-K reduce adds no multiply-adds)
        // (the _gather versions likewise: H, W are the upsampled or concatenated image's; a GEGLU GEMM's O is its packed 2F)
        "conv2d_pipe_128x128_f16" or "conv2d_pipe_128x64_f16" or "conv2d_pipe_64x64_f16"
            or "conv2d_pipe_128x128_gather_f16" or "conv2d_pipe_128x64_gather_f16" or "conv2d_pipe_64x64_gather_f16" =>
            2.0 * a.IntAt(6) * a.IntAt(11) * a.IntAt(12) * a.IntAt(10) * a.IntAt(9) * a.IntAt(13) * a.IntAt(14),
        // Lq, Lk, H, D at 4..7; B is the grid's z; QK^T and PV
        "attention_f16" => 4.0 * grid.Z * a.IntAt(6) * a.IntAt(4) * a.IntAt(5) * a.IntAt(7),
        _ => 0,
    };

    /// <summary>The table: per stage (first range) then per block and kernel, heaviest first.</summary>
    public string Format()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        int kernels = _launches.Count(l => !l.Kernel.StartsWith("cublasLt", StringComparison.Ordinal));
        sb.AppendLine(inv, $"launches per image: {_launches.Count} ({kernels} kernels, {_launches.Count - kernels} cuBLASLt GEMMs)");
        foreach (var stage in _launches.GroupBy(l => StageOf(l.Range)))
        {
            var rows = stage.GroupBy(l => (Block: BlockOf(l.Range), l.Kernel)).Select(g => new
            {
                g.Key.Block, g.Key.Kernel, Calls = g.Count(), Ms = g.Sum(l => l.Ms), Flops = g.Sum(l => l.Flops),
                Counters = Sum(g.Select(l => l.Counters)),
            }).ToList();
            if (OnInterpreter)
            {
                long stageInstr = rows.Sum(r => r.Counters?.TotalInstructions ?? 0);
                sb.AppendLine(inv, $"stage {stage.Key}: {stage.Count()} launches, {stageInstr / 1e6:F2} M thread-instructions (interpreter counters, not GPU times)");
                sb.AppendLine(inv, $"  {"block",-18} {"kernel",-30} {"calls",6} {"Minstr",10} {"share",6} {"mma/wgmma",12} {"sect/req",8} {"wave/req",8} {"MB r/w",14} {"GFLOP",9}");
                foreach (var r in rows.OrderByDescending(r => r.Counters?.TotalInstructions ?? 0))
                {
                    var c = r.Counters;
                    long instr = c?.TotalInstructions ?? 0;
                    string rw = c is null ? "-" : $"{c.GlobalBytesRead / 1e6:F1}/{c.GlobalBytesWritten / 1e6:F1}";
                    sb.AppendLine(inv, $"  {r.Block,-18} {r.Kernel,-30} {r.Calls,6} {instr / 1e6,10:F2} {Share(instr, stageInstr),6} {$"{c?.MmaCount ?? 0}/{c?.WgmmaCount ?? 0}",12} {(c?.SectorsPerRequest ?? 0),8:F2} {(c?.WavefrontsPerSharedRequest ?? 0),8:F2} {rw,14} {r.Flops / 1e9,9:F3}");
                }
            }
            else
            {
                double stageMs = rows.Sum(r => r.Ms);
                sb.AppendLine(inv, $"stage {stage.Key}: {stage.Count()} launches, {stageMs:F3} ms of kernel time (CUDA events)");
                sb.AppendLine(inv, $"  {"block",-18} {"kernel",-30} {"calls",6} {"total ms",10} {"mean ms",9} {"share",6} {"TFLOP/s",8}");
                foreach (var r in rows.OrderByDescending(r => r.Ms))
                    sb.AppendLine(inv, $"  {r.Block,-18} {r.Kernel,-30} {r.Calls,6} {r.Ms,10:F3} {r.Ms / r.Calls,9:F4} {Share(r.Ms, stageMs),6} {(r.Flops > 0 && r.Ms > 0 ? (r.Flops / (r.Ms * 1e-3) / 1e12).ToString("F1", inv) : "-"),8}");
            }
        }
        return sb.ToString();
    }

    /// <summary>Chrome trace (chrome://tracing, Perfetto): one complete event per launch, on a timeline of GPU times
    /// (CUDA) or of the interpreter's own time per launch (PTX), with the range as category and counters as args.</summary>
    public void WriteTrace(string path)
    {
        // Through AtomicFile (.NAME.pisa-tmp-PID, renamed into place): a failure never leaves a partial trace.
        AtomicFile.Write(path, stream =>
        {
            using var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
            j.WriteStartObject();
            j.WriteStartArray("traceEvents");
            double ts = 0;
            CudaEvent? first = _launches.FirstOrDefault()?.Start;
            foreach (var l in _launches)
            {
                double start, dur;
                if (first is not null && l.Start is not null) { start = CudaEvent.ElapsedMs(first, l.Start) * 1000; dur = l.Ms * 1000; }
                else { start = ts; dur = (l.Counters?.WallTime.TotalMilliseconds ?? 0) * 1000; ts += Math.Max(dur, 1); }
                j.WriteStartObject();
                j.WriteString("name", l.Kernel);
                j.WriteString("cat", l.Range);
                j.WriteString("ph", "X");
                j.WriteNumber("ts", start);
                j.WriteNumber("dur", dur);
                j.WriteNumber("pid", 0);
                j.WriteNumber("tid", 0);
                j.WriteStartObject("args");
                j.WriteString("range", l.Range);
                if (l.Flops > 0) j.WriteNumber("flop", l.Flops);
                if (l.Counters is { } c)
                {
                    j.WriteNumber("thread_instructions", c.TotalInstructions);
                    j.WriteNumber("mma", c.MmaCount);
                    j.WriteNumber("wgmma", c.WgmmaCount);
                    j.WriteNumber("sectors_per_request", c.SectorsPerRequest);
                    j.WriteNumber("wavefronts_per_shared_request", c.WavefrontsPerSharedRequest);
                    j.WriteNumber("bytes_read", c.GlobalBytesRead);
                    j.WriteNumber("bytes_written", c.GlobalBytesWritten);
                }
                j.WriteEndObject();
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteString("displayTimeUnit", "ms");
            j.WriteEndObject();
        });
    }

    private static PtxLaunchStats? Sum(IEnumerable<PtxLaunchStats?> all)
    {
        PtxLaunchStats? s = null;
        foreach (var c in all)
            if (c is not null) (s ??= new PtxLaunchStats()).Add(c);
        return s;
    }

    private static string StageOf(string range) { int i = range.IndexOf('/'); return range.Length == 0 ? "(none)" : i < 0 ? range : range[..i]; }
    private static string BlockOf(string range) { int i = range.IndexOf('/'); return i < 0 ? "-" : range[(i + 1)..]; }
    private static string Share(double part, double whole) => whole > 0 ? (100 * part / whole).ToString("F1", CultureInfo.InvariantCulture) + "%" : "-";

    public void Dispose()
    {
        if (ReferenceEquals(_ops.LaunchObserver, this)) _ops.LaunchObserver = null;
        _ops.UseGraphs = _graphsWere;
        _pending?.Dispose();
        foreach (var l in _launches) { l.Start?.Dispose(); l.End?.Dispose(); }
    }
}
