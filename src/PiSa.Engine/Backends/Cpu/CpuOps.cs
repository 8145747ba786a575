using System.Runtime.CompilerServices;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// The float32 CPU backend: the reference every CUDA kernel is checked against, and a complete
/// (slow but exact) way to run the pipeline. Tensors are <see cref="CpuTensor"/>s (NHWC / [B, L, C]).
/// Weights are packed once into GEMM panels, cached by HostTensor identity (weak keys, so the cache
/// dies with the weights); a packed weight's float copy is then released where its source can make it again
/// (<see cref="HostTensor.ReleaseData"/>), so each weight is held once. Each op family lives in its own Cpu* class;
/// this class validates and routes.
/// </summary>
public sealed class CpuOps : IOps
{
    private readonly ConditionalWeakTable<HostTensor, IPackedWeight> _linearWeights = new();
    private readonly ConditionalWeakTable<HostTensor, IPackedWeight> _convWeights = new();

    /// <summary>A float32 backend, or with <see cref="CpuPrecision.Bf16"/> one whose conv and linear GEMMs run in bf16
    /// (throws, with the reason, on a CPU without AVX512-BF16).</summary>
    public CpuOps(CpuPrecision precision = CpuPrecision.Fp32)
    {
        if (precision == CpuPrecision.Bf16 && Bf16.Bf16Support.UnavailableReason() is string why)
            throw new PisaException($"bf16 on the CPU: {why}");
        Precision = precision;
    }

    public string Name => "cpu";
    public CpuPrecision Precision { get; }

    /// <summary>The packed copy this backend's GEMM wants: the float32 panels, or their bf16 rounding.</summary>
    private IPackedWeight ForGemm(PackedMatrix f) => Precision == CpuPrecision.Bf16 ? Bf16.Bf16PackedMatrix.From(f) : f;

    public bool ReleasesHostWeightsWhenPacked => true;

    public void Dispose() { }

    public void ReleaseCachedMemory()
    {
        if (CpuBufferPool.Shared.Stats().PooledBytes == 0) return;
        CpuBufferPool.Shared.Trim();
        // The dropped arrays are large-object-heap garbage: collect (and compact) now rather than at the next peak.
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect();
    }

    // ---- transfers ------------------------------------------------------------------------------

    public DeviceTensor Upload(HostTensor t)
    {
        var y = CpuTensor.Rent(t.Shape);
        t.Data.AsSpan().CopyTo(y.Data);
        return y;
    }

    public HostTensor Download(DeviceTensor t) { var x = Cpu(t, "Download"); return new HostTensor(x.Shape, (float[])x.Data.Clone()); }

    public DeviceTensor Reshape(DeviceTensor x, params int[] shape)
    {
        var c = Cpu(x, "Reshape");
        if (ShapeUtil.Product(shape) != c.Count)
            throw new PisaException($"Reshape: [{ShapeUtil.Format(c.Shape)}] cannot become [{ShapeUtil.Format(shape)}]");
        return c.View(shape);
    }

    // ---- layers -------------------------------------------------------------------------------

    public DeviceTensor Conv2d(DeviceTensor x, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual = null)
    {
        var cx = Cpu(x, "Conv2d");
        if (cx.Rank != 4) throw new PisaException($"Conv2d: expected NHWC input, got [{ShapeUtil.Format(cx.Shape)}]");
        return Conv(ConvInput.Of(cx), weight, bias, stride, pad, residual == null ? null : Cpu(residual, "Conv2d residual"));
    }

    /// <summary>The conv gathers straight from the small tensor (<see cref="ConvInput"/>): the 2x tensor is never
    /// written, and the result is the same bits as the composition (every gathered value is the one it would hold).</summary>
    public DeviceTensor Conv2dUpsampled(DeviceTensor x, int upH, int upW, HostTensor weight, HostTensor? bias, int stride, Pad2d pad)
    {
        IOps.CheckUpsampledSize(x, upH, upW);
        var cx = Cpu(x, "Conv2dUpsampled");
        return Conv(ConvInput.Of(cx) with { Upsampled = true, UpH = upH, UpW = upW }, weight, bias, stride, pad, null);
    }

    private CpuTensor Conv(ConvInput x, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, CpuTensor? residual)
    {
        if (weight.Rank != 4 || weight.Shape[1] != x.C)
            throw new PisaException($"Conv2d: weight [{ShapeUtil.Format(weight.Shape)}] does not fit input [{x.N}, {x.LogicalH}, {x.LogicalW}, {x.C}]");
        if (stride < 1 || pad.Top < 0 || pad.Bottom < 0 || pad.Left < 0 || pad.Right < 0)
            throw new PisaException($"Conv2d: bad stride {stride} or padding {pad}");
        int o = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        CheckBias(bias, o, "Conv2d");
        var packed = _convWeights.GetValue(weight, w => PackOnce(w, d => PackedMatrix.FromConvWeight(d, w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3])));
        return CpuConv.Forward(x, packed, kh, kw, bias?.Data, stride, pad, residual);
    }

    public DeviceTensor Linear(DeviceTensor x, HostTensor weight, HostTensor? bias, DeviceTensor? residual = null)
    {
        var cx = Cpu(x, "Linear");
        int inF = cx.Shape[^1];
        if (weight.Rank != 2 || weight.Shape[1] != inF)
            throw new PisaException($"Linear: weight [{ShapeUtil.Format(weight.Shape)}] does not fit input [{ShapeUtil.Format(cx.Shape)}]");
        int outF = weight.Shape[0];
        CheckBias(bias, outF, "Linear");
        var shape = (int[])cx.Shape.Clone();
        shape[^1] = outF;
        var cr = residual == null ? null : Cpu(residual, "Linear residual");
        if (cr != null && !ShapeUtil.Equal(cr.Shape, shape))
            throw new PisaException($"Linear: residual [{ShapeUtil.Format(cr.Shape)}] does not match output [{ShapeUtil.Format(shape)}]");
        var packed = _linearWeights.GetValue(weight, w => PackOnce(w, d => PackedMatrix.FromLinearWeight(d, w.Shape[0], w.Shape[1])));
        var y = CpuTensor.Rent(shape);
        int rows = inF == 0 ? (int)(y.Count / Math.Max(1, outF)) : (int)(cx.Count / inF);
        CpuRows.InitBiasResidual(y.Data, rows, outF, bias?.Data, cr?.Data);
        packed.MultiplyAdd(rows, new DirectA(cx.Data, 0, inF), y.Data, 0, outF);
        return y;
    }

    public DeviceTensor GroupNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        var cx = Cpu(x, "GroupNorm");
        // One code path for whole and tiled GroupNorm, so the two agree bit for bit.
        return CpuNorm.GroupApply(cx, CpuNorm.GroupStats(cx, groups), gamma.Data, beta.Data, groups, eps, silu);
    }

    public float[] GroupNormStats(DeviceTensor x, int groups) => CpuNorm.GroupStats(Cpu(x, "GroupNormStats"), groups);

    public DeviceTensor GroupNormApply(DeviceTensor x, float[] meanVar, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
        => CpuNorm.GroupApply(Cpu(x, "GroupNormApply"), meanVar, gamma.Data, beta.Data, groups, eps, silu);

    public DeviceTensor LayerNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, float eps)
        => CpuNorm.LayerNorm(Cpu(x, "LayerNorm"), gamma.Data, beta.Data, eps);

    public DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int heads, bool causal)
        => CpuAttention.Forward(Cpu(q, "Attention q"), Cpu(k, "Attention k"), Cpu(v, "Attention v"), heads, causal);

    public DeviceTensor AttentionWindows(DeviceTensor q, int qStart, DeviceTensor kv, int kStart, int vStart, int width, int heads, bool causal)
        => CpuAttention.Windows(Cpu(q, "Attention q"), qStart, Cpu(kv, "Attention kv"), kStart, vStart, width, heads, causal);

    // ---- activations and elementwise ------------------------------------------------------------

    public DeviceTensor Silu(DeviceTensor x) => CpuElementwise.Silu(Cpu(x, "Silu"));
    public DeviceTensor Gelu(DeviceTensor x) => CpuElementwise.Gelu(Cpu(x, "Gelu"));
    public DeviceTensor Geglu(DeviceTensor x) => CpuElementwise.Geglu(Cpu(x, "Geglu"));
    public DeviceTensor Axpby(DeviceTensor a, DeviceTensor b, float alpha, float beta) => CpuElementwise.Axpby(Cpu(a, "Axpby"), Cpu(b, "Axpby"), alpha, beta);
    public DeviceTensor ScaleShift(DeviceTensor x, float scale, float shift) => CpuElementwise.ScaleShift(Cpu(x, "ScaleShift"), scale, shift);
    public DeviceTensor Clamp(DeviceTensor x, float lo, float hi) => CpuElementwise.Clamp(Cpu(x, "Clamp"), lo, hi);
    public DeviceTensor AddChannelVector(DeviceTensor x, DeviceTensor v) => CpuElementwise.AddChannelVector(Cpu(x, "AddChannelVector"), Cpu(v, "AddChannelVector"));

    // ---- checks ---------------------------------------------------------------------------------

    public long CountNonFinite(DeviceTensor x)
    {
        long n = 0;
        foreach (float v in Cpu(x, "CountNonFinite").Data) if (!float.IsFinite(v)) n++;
        return n;
    }

    // ---- shape ----------------------------------------------------------------------------------

    public DeviceTensor UpsampleNearest2x(DeviceTensor x) => CpuShape.UpsampleNearest2x(Cpu(x, "UpsampleNearest2x"));
    public DeviceTensor ConcatChannels(DeviceTensor a, DeviceTensor b) => CpuShape.ConcatChannels(Cpu(a, "ConcatChannels"), Cpu(b, "ConcatChannels"));
    public DeviceTensor SliceChannels(DeviceTensor x, int start, int count) => CpuShape.SliceChannels(Cpu(x, "SliceChannels"), start, count);
    public DeviceTensor CropSpatial(DeviceTensor x, int y0, int y1, int x0, int x1) => CpuShape.CropSpatial(Cpu(x, "CropSpatial"), y0, y1, x0, x1);

    // ---- layout helpers (fixtures and file formats are NCHW) ------------------------------------

    /// <summary>An NCHW host image as an NHWC CPU tensor.</summary>
    public static CpuTensor FromNchw(HostTensor nchw) { var t = Layout.NchwToNhwc(nchw); return new CpuTensor(t.Shape, t.Data); }

    /// <summary>An NHWC CPU tensor as an NCHW host image.</summary>
    public static HostTensor ToNchw(CpuTensor nhwc) => Layout.NhwcToNchw(new HostTensor(nhwc.Shape, nhwc.Data));

    // ---- helpers ----------------------------------------------------------------------------------

    /// <summary>Packs a weight (in the backend's precision) and, where its source can make it again, drops its float copy: the packed panels
    /// are all this backend reads, so the weight is held once (ReleasedWeightBytes counts what was let go).</summary>
    private IPackedWeight PackOnce(HostTensor w, Func<float[], PackedMatrix> pack)
    {
        var packed = ForGemm(pack(w.Data));
        Interlocked.Add(ref _releasedWeightBytes, w.ReleaseData());   // 0 for a tensor that cannot be made again
        return packed;
    }

    private long _releasedWeightBytes;

    /// <summary>Bytes of float32 weight copies this backend released after packing them (for tests and reports).</summary>
    public long ReleasedWeightBytes => Interlocked.Read(ref _releasedWeightBytes);

    private static CpuTensor Cpu(DeviceTensor t, string op)
        => t as CpuTensor ?? throw new PisaException($"{op}: {t} is not a CPU tensor");

    private static void CheckBias(HostTensor? bias, int n, string op)
    {
        if (bias != null && bias.Count != n)
            throw new PisaException($"{op}: bias [{ShapeUtil.Format(bias.Shape)}] does not match {n} output channels");
    }
}
