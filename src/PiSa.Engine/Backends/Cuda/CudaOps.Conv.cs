namespace PiSa.Engine.Backends.Cuda;

/// <summary>Convolution dispatch (also the linear layers' fallback when cuBLASLt cannot take them): the plan
/// (<see cref="LaunchMath.ChooseConvPlan"/>) picks conv_pipe.cu's block tile and K split, or conv.cu's reference kernel.</summary>
public sealed partial class CudaOps
{
    /// <summary>Replaces the tile and split heuristic (M, O, Kp) -> plan; null: <see cref="LaunchMath.ChooseConvPlan"/>.
    /// Tests and the kernel bench use it to run every tile and split on small shapes.</summary>
    public Func<long, int, int, ConvPlan>? ConvPlanner { get; set; }

    private ConvPlan PlanConv(long m, int o, int kp) =>
        ConvPlanner?.Invoke(m, o, kp) ?? LaunchMath.ChooseConvPlan(m, o, kp, _rt.WgmmaByDefault && WgmmaLoads());

    private bool _wgmmaTried;

    /// <summary>Why the wgmma module failed to compile or load on a GPU that should run it (the convolutions then
    /// stay on the mma.sync tiles; `pisa doctor` shows the compile log); null when it loaded or was not wanted.</summary>
    public string? WgmmaFailure { get; private set; }

    /// <summary>The wgmma module compiles and loads here: tried once, so a newer NVRTC or driver that rejects it costs
    /// the Hopper tile, not the run.</summary>
    private bool WgmmaLoads()
    {
        if (!_wgmmaTried)
        {
            _wgmmaTried = true;
            try { _rt.LoadModule(LaunchMath.ConvWgmmaModule); }
            catch (Exception e) when (e is PiSa.Cuda.CompileException or PiSa.Cuda.CudaException or PisaException) { WgmmaFailure = e.Message; }
        }
        return WgmmaFailure is null;
    }

    /// <summary>Whether a fused conv (gather or GEGLU epilogue) of this GEMM runs on conv_pipe: the reference kernel
    /// has neither, so under it the fused ops compose the unfused ones.</summary>
    private bool PipeRuns(long m, int o, int kp) => PlanConv(m, o, kp).Tile != ConvTile.Reference;

    private void LaunchConv(IntPtr x, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y,
                            int n, int h, int wd, int c, int o, int oh, int ow, int kh, int kw, int stride, int padTop, int padLeft, int kp, bool silu) =>
        LaunchConv(new ConvInput(x), w, bias, residual, y, n, h, wd, c, o, oh, ow, kh, kw, stride, padTop, padLeft, kp, silu, geglu: 0);

    /// <param name="input">with a gather (upsampling, concat) h and wd are the sizes of the image the conv sees.</param>
    /// <param name="geglu">F > 0: the GEGLU epilogue (o = the packed rows, y [M][F]); no residual or SiLU then.</param>
    private void LaunchConv(ConvInput input, IntPtr w, IntPtr bias, IntPtr residual, IntPtr y,
                            int n, int h, int wd, int c, int o, int oh, int ow, int kh, int kw, int stride, int padTop, int padLeft, int kp, bool silu, int geglu)
    {
        long m = (long)n * oh * ow;
        var plan = PlanConv(m, o, kp);
        if (plan.Tile == ConvTile.Reference)
        {
            if (input.Gathers || geglu > 0) throw new InvalidOperationException("a fused conv was planned on the reference kernel (check PipeRuns first)");
            // The reference kernel has no activation: compose it (same result, two more passes).
            _k.Conv2d(input.X, w, bias, silu ? IntPtr.Zero : residual, y, n, h, wd, c, o, oh, ow, kh, kw, stride, padTop, padLeft, kp);
            if (!silu) return;
            int count = Int(m * o, "conv2d");
            _k.Unary("silu_f16", y, y, count);
            if (residual != IntPtr.Zero) _k.Axpby(y, residual, y, count, 1f, 1f);
            return;
        }
        var (perSplit, splits) = LaunchMath.ConvSplit(kp, plan.Splits);
        if (splits == 1)
        {
            _k.ConvPipe(plan.Tile, input, w, bias, residual, y, IntPtr.Zero, n, h, wd, c, o, oh, ow, kh, kw, stride, padTop, padLeft, kp, perSplit, 1, silu, geglu);
            return;
        }
        int outputs = Int(m * o, "conv2d");
        Int((long)outputs * splits, "conv2d split-K workspace");
        var partial = new DeviceMemory(_rt, (long)outputs * splits * 4);
        try
        {
            _k.ConvPipe(plan.Tile, input, w, bias, residual, y, partial.Ptr, n, h, wd, c, o, oh, ow, kh, kw, stride, padTop, padLeft, kp, perSplit, splits, silu, geglu);
            if (geglu > 0) _k.ConvSplitReduceGeglu(partial.Ptr, bias, y, Int(m * geglu, "geglu"), o, geglu, splits);
            else _k.ConvSplitReduce(partial.Ptr, bias, residual, y, outputs, o, splits, silu);
        }
        finally { partial.Release(); }   // stream-ordered pool: the reduce queued before it still reads it
    }
}
