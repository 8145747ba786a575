using System.Runtime.InteropServices;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// The CUDA backend: fp16 activations (<see cref="CudaTensor"/>), fp32 accumulation in every kernel,
/// parameters uploaded and repacked once per HostTensor object (<see cref="WeightCache"/>).
/// Shapes are validated here so that kernel index math can assume them.
/// </summary>
public sealed partial class CudaOps : IOps, IWeightRelease, Bench.IDeviceMemoryStats
{
    private readonly IGpuRuntime _rt;
    private readonly bool _ownsRuntime;
    private readonly CudaKernels _k;
    private readonly WeightCache _weights;

    public CudaOps(IGpuRuntime runtime, bool ownsRuntime = true)
    {
        _rt = runtime;
        _ownsRuntime = ownsRuntime;
        _k = new CudaKernels(runtime);
        _weights = new WeightCache(runtime);
    }

    /// <summary>"cuda", or "ptx" when the kernels run on the PTX interpreter.</summary>
    public string Name => _rt is PtxGpuRuntime ? "ptx" : "cuda";
    public IGpuRuntime Runtime => _rt;
    /// <summary>The device copies of parameters (for memory accounting and tests).</summary>
    public WeightCache Weights => _weights;

    /// <summary>Frees the device copies and gives the pool's cache back to the driver, so the memory really returns
    /// (the freed weights' size classes would otherwise stay reserved for sizes that may not come again).</summary>
    public long ReleaseWeights(IEnumerable<HostTensor> tensors)
    {
        long freed = _weights.Release(tensors);
        if (freed > 0) _rt.TrimCache();
        return freed;
    }

    public IDisposable TrackWeights(ICollection<HostTensor> into) => _weights.Track(into);

    /// <summary>PISA_CUDA_KEEP_POOL=1: keep the device pool's freed blocks between stages and images (no driver
    /// allocations once warm) at the price of holding every stage's blocks at once; see <see cref="KeepPoolBetweenStages"/>.</summary>
    public const string EnvKeepPool = "PISA_CUDA_KEEP_POOL";

    /// <summary>False (the default): at the end of each stage the pool's cached blocks go back to the driver, so the
    /// device holds at most the largest stage's activations (what <see cref="Pipeline.DeviceMemoryEstimator"/> plans), at
    /// the cost of the next stage allocating its blocks from the driver again. True: stage peaks add up.</summary>
    public bool KeepPoolBetweenStages { get; set; } = Environment.GetEnvironmentVariable(EnvKeepPool) == "1";

    public bool HasDeviceMemory => true;

    public void EndStage()
    {
        if (!KeepPoolBetweenStages) _rt.TrimCache();
    }

    /// <summary>The image size changed: blocks of the old sizes will not be asked for again.</summary>
    public void ReleaseCachedMemory() => _rt.TrimCache();

    /// <summary>Told about every kernel launch and GEMM (the profiler); null normally.</summary>
    public ILaunchObserver? LaunchObserver
    {
        get => _k.Observer;
        set => _k.Observer = value;
    }

    private readonly List<string> _ranges = new();

    /// <summary>The open ranges, outermost first ("unet/down_blocks.1"): what the profiler groups launches by.</summary>
    public string RangePath { get; private set; } = "";

    /// <summary>A named range (stage, block): an NVTX range on CUDA for Nsight, and the profiler's grouping.</summary>
    public IDisposable Range(string name)
    {
        _ranges.Add(name);
        RangePath = string.Join("/", _ranges);
        if (_rt is PiSaCudaRuntime) PiSa.Cuda.Nvtx.Push(name);
        return new RangeScope(this);
    }

    private sealed class RangeScope(CudaOps ops) : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            ops._ranges.RemoveAt(ops._ranges.Count - 1);
            ops.RangePath = string.Join("/", ops._ranges);
            if (ops._rt is PiSaCudaRuntime) PiSa.Cuda.Nvtx.Pop();
        }
    }

    /// <summary>The runtime's peak device memory (the CUDA pool's reservation, the interpreter's high-water mark);
    /// -1 when the runtime keeps no count (test fakes).</summary>
    public long PeakDeviceBytes => _rt is Bench.IDeviceMemoryStats s ? s.PeakDeviceBytes : -1;

    /// <summary>The device memory a run may plan with (see <see cref="Bench.IDeviceMemoryStats.DeviceBudgetBytes"/>).</summary>
    public long? DeviceBudgetBytes => _rt is Bench.IDeviceMemoryStats s ? s.DeviceBudgetBytes : null;

    // ---- helpers --------------------------------------------------------------------------------
    private static CudaTensor C(DeviceTensor t, string op, string arg) =>
        t as CudaTensor ?? throw new PisaException($"{op}: {arg} {t} is not a CUDA tensor");

    private CudaTensor New(params int[] shape) => new(shape, new DeviceMemory(_rt, ShapeUtil.Product(shape) * 2));

    private static int Int(long n, string op) =>
        n <= int.MaxValue ? (int)n : throw new PisaException($"{op}: {n} elements exceed 2^31-1");

    private static string S(DeviceTensor t) => "[" + ShapeUtil.Format(t.Shape) + "]";

    private static int[] WithLast(int[] shape, int last)
    {
        var s = (int[])shape.Clone();
        s[^1] = last;
        return s;
    }

    // ---- transfers ------------------------------------------------------------------------------
    public DeviceTensor Upload(HostTensor t)
    {
        var y = New(t.Shape);
        if (t.Count == 0) return y;
        var stage = new DeviceMemory(_rt, t.Count * 4);
        try
        {
            _rt.CopyToDevice(stage.Ptr, MemoryMarshal.AsBytes(t.Data.AsSpan()));
            _k.F32ToF16(stage.Ptr, y.Ptr, Int(t.Count, "upload"));
        }
        finally { stage.Release(); }
        return y;
    }

    public HostTensor Download(DeviceTensor t)
    {
        var x = C(t, "download", "tensor");
        var host = new HostTensor(x.Shape);
        if (x.Count == 0) return host;
        var stage = new DeviceMemory(_rt, x.Count * 4);
        try
        {
            _k.F16ToF32(x.Ptr, stage.Ptr, Int(x.Count, "download"));
            _rt.CopyToHost(MemoryMarshal.AsBytes(host.Data.AsSpan()), stage.Ptr);
        }
        finally { stage.Release(); }
        return host;
    }

    public DeviceTensor Reshape(DeviceTensor x, params int[] shape)
    {
        var c = C(x, "reshape", "x");
        if (ShapeUtil.Product(shape) != c.Count)
            throw new PisaException($"reshape: {S(c)} cannot become [{ShapeUtil.Format(shape)}]");
        // A view: no new reference. Disposing either the owner or the view returns the storage (IOps.Reshape).
        return new CudaTensor(shape, c.Memory);
    }

    // ---- layers ---------------------------------------------------------------------------------
    public DeviceTensor Conv2d(DeviceTensor x, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual = null) =>
        Conv2d(x, weight, bias, stride, pad, residual, silu: false);

    /// <summary>Conv2d with the epilogue's optional SiLU: y = silu(conv + bias) + residual (CudaOps.Conv.cs).</summary>
    public DeviceTensor Conv2d(DeviceTensor x, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual, bool silu)
    {
        var xc = C(x, "conv2d", "x");
        if (xc.Rank != 4 || weight.Rank != 4)
            throw new PisaException($"conv2d: x {S(xc)} must be NHWC and weight {weight} [O, I, kh, kw]");
        var (n, h, w, c, o, kh, kw, oh, ow) = ConvGeometry("conv2d", xc.Shape, weight, bias, stride, pad);
        int[] outShape = [n, oh, ow, o];
        CudaTensor? rc = ConvResidual("conv2d", residual, outShape);
        var wp = _weights.Packed(weight);
        IntPtr b = bias is null ? IntPtr.Zero : _weights.Vector(bias);
        var y = New(outShape);
        Int(y.Count, "conv2d"); Int(xc.Count, "conv2d");
        LaunchConv(xc.Ptr, wp.Memory.Ptr, b, rc?.Ptr ?? IntPtr.Zero, y.Ptr, n, h, w, c, o, oh, ow, kh, kw, stride, pad.Top, pad.Left, wp.Kp, silu);
        return y;
    }

    /// <summary>The checked geometry of a conv of an NHWC input of shape <paramref name="x"/> (the image the conv sees:
    /// for the fused ops, the upsampled or concatenated one).</summary>
    private static (int N, int H, int W, int C, int O, int KH, int KW, int OH, int OW) ConvGeometry(
        string op, int[] x, HostTensor weight, HostTensor? bias, int stride, Pad2d pad)
    {
        if (x.Length != 4 || weight.Rank != 4)
            throw new PisaException($"{op}: x [{ShapeUtil.Format(x)}] must be NHWC and weight {weight} [O, I, kh, kw]");
        int n = x[0], h = x[1], w = x[2], c = x[3];
        int o = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        if (weight.Shape[1] != c) throw new PisaException($"{op}: x [{ShapeUtil.Format(x)}] has {c} channels but weight {weight} expects {weight.Shape[1]}");
        if (stride < 1 || pad.Top < 0 || pad.Bottom < 0 || pad.Left < 0 || pad.Right < 0)
            throw new PisaException($"{op}: bad stride {stride} or padding {pad}");
        if (bias is not null && bias.Count != o) throw new PisaException($"{op}: bias {bias} does not match {o} output channels");
        var (oh, ow) = LaunchMath.ConvOutput(h, w, kh, kw, stride, pad);
        if (oh <= 0 || ow <= 0) throw new PisaException($"{op}: x [{ShapeUtil.Format(x)}] is smaller than the {kh}x{kw} kernel");
        return (n, h, w, c, o, kh, kw, oh, ow);
    }

    private static CudaTensor? ConvResidual(string op, DeviceTensor? residual, int[] outShape)
    {
        CudaTensor? rc = residual is null ? null : C(residual, op, "residual");
        if (rc is not null && !ShapeUtil.Equal(rc.Shape, outShape))
            throw new PisaException($"{op}: residual {S(rc)} does not match output [{ShapeUtil.Format(outShape)}]");
        return rc;
    }

    public DeviceTensor Linear(DeviceTensor x, HostTensor weight, HostTensor? bias, DeviceTensor? residual = null)
    {
        var xc = C(x, "linear", "x");
        if (weight.Rank != 2) throw new PisaException($"linear: weight {weight} must be [out, in]");
        int outF = weight.Shape[0], inF = weight.Shape[1];
        if (xc.Rank < 1 || xc.Dim(-1) != inF) throw new PisaException($"linear: x {S(xc)} does not end in {inF} features of weight {weight}");
        if (bias is not null && bias.Count != outF) throw new PisaException($"linear: bias {bias} does not match {outF} outputs");
        int rows = Int(xc.Count / Math.Max(inF, 1), "linear");
        var outShape = WithLast(xc.Shape, outF);
        CudaTensor? rc = residual is null ? null : C(residual, "linear", "residual");
        if (rc is not null && !ShapeUtil.Equal(rc.Shape, outShape))
            throw new PisaException($"linear: residual {S(rc)} does not match output [{ShapeUtil.Format(outShape)}]");
        var wp = _weights.Packed(weight);
        var y = New(outShape);
        Int(y.Count, "linear");
        if (rows == 0) return y;
        if (_rt.HasLinear && wp.Kp == inF)   // packed rows are then exactly [out, in]
        {
            IntPtr b16 = bias is null ? IntPtr.Zero : _weights.VectorF16(bias);
            try
            {
                LaunchObserver?.BeforeLinear(rows, inF, outF);
                _rt.LinearF16(xc.Ptr, wp.Memory.Ptr, b16, rc?.Ptr ?? IntPtr.Zero, y.Ptr, rows, inF, outF);
                LaunchObserver?.AfterLinear(rows, inF, outF);
            }
            catch (Exception e) when (e is not PisaException)
            { throw new PisaException($"cuBLASLt linear x {S(xc)} w {weight}: {e.Message}", e); }
        }
        else // the implicit-GEMM conv kernel as a 1x1 convolution over a 1 x rows "image"
            LaunchConv(xc.Ptr, wp.Memory.Ptr, bias is null ? IntPtr.Zero : _weights.Vector(bias), rc?.Ptr ?? IntPtr.Zero, y.Ptr, 1, 1, rows, inF, outF, 1, rows, 1, 1, 1, 0, 0, wp.Kp, silu: false);
        return y;
    }

    public DeviceTensor LayerNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, float eps)
    {
        var xc = C(x, "layer norm", "x");
        int c = xc.Rank >= 1 ? xc.Dim(-1) : 0;
        if (c == 0 || gamma.Count != c || beta.Count != c)
            throw new PisaException($"layer norm: x {S(xc)} does not match gamma {gamma} / beta {beta}");
        var y = New(xc.Shape);
        int rows = Int(xc.Count / c, "layer norm");
        if (rows > 0) _k.LayerNorm(xc.Ptr, _weights.Vector(gamma), _weights.Vector(beta), y.Ptr, rows, c, eps);
        return y;
    }

    public DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int heads, bool causal)
    {
        var qc = C(q, "attention", "q"); var kc = C(k, "attention", "k"); var vc = C(v, "attention", "v");
        if (qc.Rank != 3 || kc.Rank != 3 || !ShapeUtil.Equal(kc.Shape, vc.Shape) || qc.Shape[0] != kc.Shape[0] || qc.Shape[2] != kc.Shape[2])
            throw new PisaException($"attention: q {S(qc)}, k {S(kc)}, v {S(vc)} must be [B, L, H*D] with equal B and H*D");
        int b = qc.Shape[0], lq = qc.Shape[1], lk = kc.Shape[1], hd = qc.Shape[2];
        if (heads <= 0 || hd % heads != 0 || heads > 65535 || b > 65535)
            throw new PisaException($"attention: {hd} channels of q {S(qc)} do not split into {heads} heads");
        int d = hd / heads;
        if (d > LaunchMath.MaxHeadDim) throw new PisaException($"attention: head dim {d} over the supported {LaunchMath.MaxHeadDim}");
        var y = New(qc.Shape);
        Int(qc.Count, "attention"); Int(kc.Count, "attention");
        if (y.Count > 0) RunAttention(qc.Ptr, kc.Ptr, vc.Ptr, y.Ptr, b, lq, lk, heads, d, hd, hd, hd, causal);
        return y;
    }

    /// <summary>The windows are read in place: the kernel takes row strides, and the pointers move to each window's start.</summary>
    public DeviceTensor AttentionWindows(DeviceTensor q, int qStart, DeviceTensor kv, int kStart, int vStart, int width, int heads, bool causal)
    {
        var qc = C(q, "attention", "q"); var kvc = C(kv, "attention", "kv");
        int ldq = qc.Rank == 3 ? qc.Shape[2] : 0, ldkv = kvc.Rank == 3 ? kvc.Shape[2] : 0;
        if (qc.Rank != 3 || kvc.Rank != 3 || qc.Shape[0] != kvc.Shape[0] || width <= 0
            || qStart < 0 || qStart + (long)width > ldq || kStart < 0 || kStart + (long)width > ldkv || vStart < 0 || vStart + (long)width > ldkv)
            throw new PisaException($"attention: windows q {S(qc)} at {qStart}, kv {S(kvc)} at {kStart}/{vStart} of width {width} do not fit [B, L, C]");
        int b = qc.Shape[0], lq = qc.Shape[1], lk = kvc.Shape[1];
        if (heads <= 0 || width % heads != 0 || heads > 65535 || b > 65535)
            throw new PisaException($"attention: a window of {width} channels does not split into {heads} heads");
        int d = width / heads;
        if (d > LaunchMath.MaxHeadDim) throw new PisaException($"attention: head dim {d} over the supported {LaunchMath.MaxHeadDim}");
        var y = New([b, lq, width]);
        Int(qc.Count, "attention"); Int(kvc.Count, "attention");
        if (y.Count > 0)
            RunAttention(qc.Ptr + 2 * qStart, kvc.Ptr + 2 * kStart, kvc.Ptr + 2 * vStart, y.Ptr, b, lq, lk, heads, d, ldq, ldkv, ldkv, causal);
        return y;
    }

    // ---- activations and elementwise ------------------------------------------------------------
    private DeviceTensor Unary(DeviceTensor x, string kernel)
    {
        var xc = C(x, kernel, "x");
        var y = New(xc.Shape);
        if (y.Count > 0) _k.Unary(kernel, xc.Ptr, y.Ptr, Int(xc.Count, kernel));
        return y;
    }

    public DeviceTensor Silu(DeviceTensor x) => Unary(x, "silu_f16");
    public DeviceTensor Gelu(DeviceTensor x) => Unary(x, "gelu_f16");

    public DeviceTensor Geglu(DeviceTensor x)
    {
        var xc = C(x, "geglu", "x");
        int c2 = xc.Rank >= 1 ? xc.Dim(-1) : 0;
        if (c2 == 0 || c2 % 2 != 0) throw new PisaException($"geglu: last dim of x {S(xc)} must be even");
        var y = New(WithLast(xc.Shape, c2 / 2));
        if (y.Count > 0) _k.Geglu(xc.Ptr, y.Ptr, Int(xc.Count / c2, "geglu"), c2 / 2);
        return y;
    }

    public DeviceTensor Axpby(DeviceTensor a, DeviceTensor b, float alpha, float beta)
    {
        var ac = C(a, "axpby", "a"); var bc = C(b, "axpby", "b");
        if (!ShapeUtil.Equal(ac.Shape, bc.Shape)) throw new PisaException($"axpby: shapes {S(ac)} and {S(bc)} differ");
        var y = New(ac.Shape);
        if (y.Count > 0) _k.Axpby(ac.Ptr, bc.Ptr, y.Ptr, Int(ac.Count, "axpby"), alpha, beta);
        return y;
    }

    public DeviceTensor ScaleShift(DeviceTensor x, float scale, float shift)
    {
        var xc = C(x, "scale shift", "x");
        var y = New(xc.Shape);
        if (y.Count > 0) _k.ScaleShift(xc.Ptr, y.Ptr, Int(xc.Count, "scale shift"), scale, shift);
        return y;
    }

    public DeviceTensor Clamp(DeviceTensor x, float lo, float hi)
    {
        var xc = C(x, "clamp", "x");
        var y = New(xc.Shape);
        if (y.Count > 0) _k.Clamp(xc.Ptr, y.Ptr, Int(xc.Count, "clamp"), lo, hi);
        return y;
    }

    public DeviceTensor AddChannelVector(DeviceTensor x, DeviceTensor v)
    {
        var xc = C(x, "add channel vector", "x"); var vc = C(v, "add channel vector", "v");
        if (xc.Rank < 2 || vc.Rank != 2 || vc.Shape[1] != xc.Dim(-1) || (vc.Shape[0] != 1 && vc.Shape[0] != xc.Shape[0]))
            throw new PisaException($"add channel vector: v {S(vc)} does not broadcast over x {S(xc)}");
        int c = xc.Dim(-1);
        var y = New(xc.Shape);
        if (y.Count > 0)
            _k.AddChannelVector(xc.Ptr, vc.Ptr, y.Ptr, Int(xc.Count, "add channel vector"), Int(xc.Count / xc.Shape[0], "add channel vector"), c, vc.Shape[0] == 1 ? 0 : c);
        return y;
    }

    // ---- shape ----------------------------------------------------------------------------------
    public DeviceTensor UpsampleNearest2x(DeviceTensor x)
    {
        var xc = C(x, "upsample", "x");
        if (xc.Rank != 4) throw new PisaException($"upsample: x {S(xc)} must be NHWC");
        return UpsampleNearest(xc, checked(xc.Shape[1] * 2), checked(xc.Shape[2] * 2));
    }

    /// <summary>Nearest-neighbour resize of NHWC to any size (PyTorch 'nearest': src = floor(dst * in / out)).</summary>
    public DeviceTensor UpsampleNearest(DeviceTensor x, int outH, int outW)
    {
        var xc = C(x, "upsample", "x");
        if (xc.Rank != 4 || outH <= 0 || outW <= 0) throw new PisaException($"upsample: x {S(xc)} to {outH}x{outW}");
        var y = New(xc.Shape[0], outH, outW, xc.Shape[3]);
        if (y.Count > 0 && xc.Count > 0)
            _k.UpsampleNearest(xc.Ptr, y.Ptr, Int(y.Count, "upsample"), xc.Shape[1], xc.Shape[2], xc.Shape[3], outH, outW);
        return y;
    }

    public DeviceTensor ConcatChannels(DeviceTensor a, DeviceTensor b)
    {
        var ac = C(a, "concat", "a"); var bc = C(b, "concat", "b");
        bool ok = ac.Rank == bc.Rank && ac.Rank >= 1;
        for (int i = 0; ok && i < ac.Rank - 1; i++) ok = ac.Shape[i] == bc.Shape[i];
        if (!ok) throw new PisaException($"concat: {S(ac)} and {S(bc)} differ outside the channel dimension");
        int ca = ac.Dim(-1), cb = bc.Dim(-1);
        var y = New(WithLast(ac.Shape, ca + cb));
        if (y.Count > 0) _k.Concat(ac.Ptr, bc.Ptr, y.Ptr, Int(y.Count / (ca + cb), "concat"), ca, cb);
        return y;
    }

    public DeviceTensor SliceChannels(DeviceTensor x, int start, int count)
    {
        var xc = C(x, "slice", "x");
        int c = xc.Rank >= 1 ? xc.Dim(-1) : 0;
        if (start < 0 || count < 0 || start + count > c) throw new PisaException($"slice: channels [{start}, {start + count}) outside x {S(xc)}");
        var y = New(WithLast(xc.Shape, count));
        if (y.Count > 0) _k.Slice(xc.Ptr, y.Ptr, Int(xc.Count / c, "slice"), c, start, count);
        return y;
    }

    public DeviceTensor CropSpatial(DeviceTensor x, int y0, int y1, int x0, int x1)
    {
        var xc = C(x, "crop", "x");
        if (xc.Rank != 4 || y0 < 0 || x0 < 0 || y1 > xc.Shape[1] || x1 > xc.Shape[2] || y1 < y0 || x1 < x0)
            throw new PisaException($"crop: rows [{y0}, {y1}) columns [{x0}, {x1}) outside x {S(xc)}");
        var y = New(xc.Shape[0], y1 - y0, x1 - x0, xc.Shape[3]);
        if (y.Count > 0)
            _k.Crop(xc.Ptr, y.Ptr, Int(y.Count, "crop"), xc.Shape[1], xc.Shape[2], xc.Shape[3], y0, x0, y1 - y0, x1 - x0);
        return y;
    }

    // ---- checks ---------------------------------------------------------------------------------
    public long CountNonFinite(DeviceTensor x)
    {
        var xc = C(x, "non-finite check", "x");
        if (xc.Count == 0) return 0;
        int n = Int(xc.Count, "non-finite check"), blocks = LaunchMath.NonFiniteBlocks(n);
        var partial = new DeviceMemory(_rt, blocks * 4L);
        try
        {
            _k.CountNonFinite(xc.Ptr, partial.Ptr, n, blocks);
            var counts = new int[blocks];
            _rt.CopyToHost(MemoryMarshal.AsBytes(counts.AsSpan()), partial.Ptr);   // waits for the kernel
            long total = 0;
            foreach (int c in counts) total += c;
            return total;
        }
        finally { partial.Release(); }
    }

    public void Synchronize() => _rt.Synchronize();

    public int PackedWeightBytesPerElement => 2;

    public void Dispose()
    {
        DropGraphs();
        _weights.Dispose();
        if (_ownsRuntime) _rt.Dispose();
    }
}
