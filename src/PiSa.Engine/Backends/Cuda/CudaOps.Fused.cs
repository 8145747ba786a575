using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// Which of the CUDA backend's fusions are on (all by default). PISA_UNFUSED=geglu,upsample,concat (any of them, or
/// "all") turns them off, so a run of the unfused compositions can be compared with the fused one end to end.
/// </summary>
public sealed record CudaFusions(bool Geglu = true, bool Upsample = true, bool Concat = true)
{
    public const string EnvUnfused = "PISA_UNFUSED";

    public static readonly CudaFusions None = new(false, false, false);

    public static CudaFusions FromEnvironment() => Parse(Environment.GetEnvironmentVariable(EnvUnfused));

    /// <summary>The fusions left on when <paramref name="unfused"/> lists those turned off.</summary>
    public static CudaFusions Parse(string? unfused)
    {
        var f = new CudaFusions();
        if (string.IsNullOrWhiteSpace(unfused)) return f;
        foreach (string part in unfused.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            f = part.ToLowerInvariant() switch
            {
                "geglu" => f with { Geglu = false },
                "upsample" => f with { Upsample = false },
                "concat" => f with { Concat = false },
                "all" => None,
                _ => throw new PisaException($"{EnvUnfused}={unfused}: '{part}' is not one of geglu, upsample, concat, all"),
            };
        return f;
    }
}

/// <summary>The fused ops of <see cref="IOps"/> on conv_pipe.cu: GEGLU in the GEMM's epilogue, nearest 2x upsampling
/// and the channel concat in the conv's gather. Where a fusion is off, or the plan is the reference kernel, each runs
/// the composition IOps defines.</summary>
public sealed partial class CudaOps
{
    /// <summary>The fusions in use (from <see cref="CudaFusions.EnvUnfused"/> at creation; tests set it).</summary>
    public CudaFusions Fusions { get; set; } = CudaFusions.FromEnvironment();

    public bool FoldsConcat => Fusions.Concat;

    public DeviceTensor LinearGeglu(DeviceTensor x, HostTensor weight, HostTensor? bias)
    {
        var xc = C(x, "linear geglu", "x");
        if (weight.Rank != 2 || weight.Shape[0] % 2 != 0 || weight.Shape[0] == 0)
            throw new PisaException($"linear geglu: weight {weight} must be [2F, in]");
        int outF = weight.Shape[0], inF = weight.Shape[1], f = outF / 2;
        if (xc.Rank < 1 || xc.Dim(-1) != inF) throw new PisaException($"linear geglu: x {S(xc)} does not end in {inF} features of weight {weight}");
        if (bias is not null && bias.Count != outF) throw new PisaException($"linear geglu: bias {bias} does not match {outF} outputs");
        int rows = Int(xc.Count / Math.Max(inF, 1), "linear geglu");
        int packedRows = WeightPacking.GegluPackedRows(f), kp = LaunchMath.PaddedK(inF);
        if (!Fusions.Geglu || rows == 0 || !PipeRuns(rows, packedRows, kp)) return IOps.ComposeLinearGeglu(this, x, weight, bias);
        var wp = _weights.PackedGeglu(weight);
        IntPtr b = bias is null ? IntPtr.Zero : _weights.GegluBias(bias);
        var y = New(WithLast(xc.Shape, f));
        Int(y.Count, "linear geglu"); Int((long)rows * packedRows, "linear geglu");
        // a 1x1 convolution over a 1 x rows "image", as Linear's fallback
        LaunchConv(new ConvInput(xc.Ptr), wp.Memory.Ptr, b, IntPtr.Zero, y.Ptr, 1, 1, rows, inF, wp.Rows, 1, rows, 1, 1, 1, 0, 0, wp.Kp, silu: false, geglu: f);
        return y;
    }

    public DeviceTensor Conv2dUpsampled(DeviceTensor x, int upH, int upW, HostTensor weight, HostTensor? bias, int stride, Pad2d pad)
    {
        var xc = C(x, "upsampled conv", "x");
        IOps.CheckUpsampledSize(xc, upH, upW);
        var (n, h, w, c, o, kh, kw, oh, ow) = ConvGeometry("upsampled conv", [xc.Shape[0], upH, upW, xc.Shape[3]], weight, bias, stride, pad);
        long m = (long)n * oh * ow;
        int kp = LaunchMath.PaddedK(kh * kw * c);
        if (!Fusions.Upsample || xc.Count == 0 || !PipeRuns(m, o, kp)) return IOps.ComposeConv2dUpsampled(this, x, upH, upW, weight, bias, stride, pad);
        var wp = _weights.Packed(weight);
        IntPtr b = bias is null ? IntPtr.Zero : _weights.Vector(bias);
        var y = New(n, oh, ow, o);
        Int(y.Count, "upsampled conv"); Int((long)n * h * w * c, "upsampled conv");
        LaunchConv(new ConvInput(xc.Ptr, Up: true), wp.Memory.Ptr, b, IntPtr.Zero, y.Ptr, n, h, w, c, o, oh, ow, kh, kw, stride, pad.Top, pad.Left, wp.Kp, silu: false, geglu: 0);
        return y;
    }

    public DeviceTensor Conv2dConcat(DeviceTensor a, DeviceTensor b, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual = null)
    {
        var ac = C(a, "concat conv", "a"); var bc = C(b, "concat conv", "b");
        if (ac.Rank != 4 || bc.Rank != 4 || ac.Shape[0] != bc.Shape[0] || ac.Shape[1] != bc.Shape[1] || ac.Shape[2] != bc.Shape[2])
            throw new PisaException($"concat conv: {S(ac)} and {S(bc)} must be NHWC and differ only in channels");
        int ca = ac.Shape[3], cb = bc.Shape[3];
        var (n, h, w, c, o, kh, kw, oh, ow) = ConvGeometry("concat conv", [ac.Shape[0], ac.Shape[1], ac.Shape[2], checked(ca + cb)], weight, bias, stride, pad);
        int[] outShape = [n, oh, ow, o];
        var rc = ConvResidual("concat conv", residual, outShape);
        long m = (long)n * oh * ow;
        int kp = LaunchMath.PaddedK(kh * kw * c);
        if (!Fusions.Concat || ca == 0 || cb == 0 || ac.Count == 0 || !PipeRuns(m, o, kp))
            return IOps.ComposeConv2dConcat(this, a, b, weight, bias, stride, pad, residual);
        var wp = _weights.Packed(weight);
        IntPtr bp = bias is null ? IntPtr.Zero : _weights.Vector(bias);
        var y = New(outShape);
        Int(y.Count, "concat conv"); Int((long)n * h * w * c, "concat conv");
        LaunchConv(new ConvInput(ac.Ptr, bc.Ptr, ca), wp.Memory.Ptr, bp, rc?.Ptr ?? IntPtr.Zero, y.Ptr, n, h, w, c, o, oh, ow, kh, kw, stride, pad.Top, pad.Left, wp.Kp, silu: false, geglu: 0);
        return y;
    }
}
