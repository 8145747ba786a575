using System.Runtime.InteropServices;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends.Cuda;

// GroupNorm on the CUDA backend (kernels/norm.cu). The full op is one launch (gn_fused_f16) when a group fits one
// block's work and two (gn_partial_stats, gn_apply_partials) otherwise; the tiled VAE's stats-only op and its
// apply-with-given-stats op keep gn_partial_stats + gn_finalize_stats and gn_apply.
public sealed partial class CudaOps
{
    private static (int N, int HW, int C) NormDims(CudaTensor x, int groups, string op) => NormDims(x.Shape, groups, op);

    private static (int N, int HW, int C) NormDims(int[] shape, int groups, string op)
    {
        string sx = "[" + ShapeUtil.Format(shape) + "]";
        if (shape.Length < 2) throw new PisaException($"{op}: x {sx} needs a batch and a channel dimension");
        int n = shape[0], c = shape[^1];
        if (groups <= 0 || c % groups != 0) throw new PisaException($"{op}: {c} channels of x {sx} do not split into {groups} groups");
        int hw = n == 0 || c == 0 ? 0 : Int(ShapeUtil.Product(shape) / ((long)n * c), op);
        if ((long)n * groups > 65535) throw new PisaException($"{op}: batch {n} x {groups} groups is too many");
        return (n, hw, c);
    }

    private static void CheckAffine(HostTensor gamma, HostTensor beta, int c)
    {
        if (gamma.Count != c || beta.Count != c) throw new PisaException($"group norm: gamma {gamma} / beta {beta} do not match {c} channels");
    }

    /// <summary>Runs the two statistics kernels; the returned device memory holds N*G (mean, var) pairs.</summary>
    private DeviceMemory Stats(CudaTensor x, int n, int hw, int c, int groups)
    {
        var (per, chunks) = LaunchMath.GroupNormChunks(hw, c / groups);
        int ng = n * groups;
        var partial = new DeviceMemory(_rt, (long)ng * chunks * 3 * 4);
        var meanVar = new DeviceMemory(_rt, (long)ng * 2 * 4);
        try
        {
            _k.GnPartialStats(x.Ptr, partial.Ptr, n, hw, c, groups, per, chunks);
            _k.GnFinalizeStats(partial.Ptr, meanVar.Ptr, ng, chunks);
        }
        catch { meanVar.Release(); throw; }
        finally { partial.Release(); }
        return meanVar;
    }

    public DeviceTensor GroupNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        var xc = C(x, "group norm", "x");
        var (n, hw, c) = NormDims(xc, groups, "group norm");
        return RunGroupNorm(xc.Ptr, IntPtr.Zero, c, xc.Shape, n, hw, c, gamma, beta, groups, eps, silu);
    }

    /// <summary>GroupNorm of ConcatChannels(a, b) reading both in place (norm.cu's _cat kernels): the concatenated
    /// tensor is never written. Unfused (PISA_UNFUSED=concat): IOps' composition.</summary>
    public DeviceTensor GroupNormConcat(DeviceTensor a, DeviceTensor b, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        var ac = C(a, "group norm concat", "a"); var bc = C(b, "group norm concat", "b");
        bool ok = ac.Rank == bc.Rank && ac.Rank >= 2;
        for (int i = 0; ok && i < ac.Rank - 1; i++) ok = ac.Shape[i] == bc.Shape[i];
        if (!ok) throw new PisaException($"group norm concat: {S(ac)} and {S(bc)} differ outside the channel dimension");
        int ca = ac.Dim(-1), cb = bc.Dim(-1);
        if (!Fusions.Concat || ca == 0 || cb == 0) return IOps.ComposeGroupNormConcat(this, a, b, gamma, beta, groups, eps, silu);
        var shape = WithLast(ac.Shape, checked(ca + cb));
        var (n, hw, c) = NormDims(shape, groups, "group norm concat");
        return RunGroupNorm(ac.Ptr, bc.Ptr, ca, shape, n, hw, c, gamma, beta, groups, eps, silu);
    }

    /// <param name="x2">zero, or the second tensor of a channel concat (x then holds channels [0, c1)).</param>
    private DeviceTensor RunGroupNorm(IntPtr x, IntPtr x2, int c1, int[] shape, int n, int hw, int c, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        CheckAffine(gamma, beta, c);
        var y = New(shape);
        if (y.Count == 0) return y;
        bool cat = x2 != IntPtr.Zero;
        try
        {
            IntPtr g = _weights.Vector(gamma), b = _weights.Vector(beta);
            int cg = c / groups;
            if (LaunchMath.GroupNormOneLaunch(hw, cg))
            {
                if (cat) _k.GnFusedCat(x, x2, g, b, y.Ptr, n, hw, c, groups, c1, eps, silu);
                else _k.GnFused(x, g, b, y.Ptr, n, hw, c, groups, eps, silu);
                return y;
            }
            var (per, chunks) = LaunchMath.GroupNormChunks(hw, cg);
            var partial = new DeviceMemory(_rt, (long)n * groups * chunks * 3 * 4);
            try
            {
                if (cat)
                {
                    _k.GnPartialStatsCat(x, x2, partial.Ptr, n, hw, c, groups, c1, per, chunks);
                    _k.GnApplyPartialsCat(x, x2, partial.Ptr, g, b, y.Ptr, n, hw, c, groups, c1, per, chunks, eps, silu);
                }
                else
                {
                    _k.GnPartialStats(x, partial.Ptr, n, hw, c, groups, per, chunks);
                    _k.GnApplyPartials(x, partial.Ptr, g, b, y.Ptr, n, hw, c, groups, per, chunks, eps, silu);
                }
            }
            finally { partial.Release(); }
            return y;
        }
        catch { y.Dispose(); throw; }
    }

    public float[] GroupNormStats(DeviceTensor x, int groups)
    {
        var xc = C(x, "group norm stats", "x");
        var (n, hw, c) = NormDims(xc, groups, "group norm stats");
        var result = new float[n * groups * 2];
        if (xc.Count == 0) return result;
        var mv = Stats(xc, n, hw, c, groups);
        try { _rt.CopyToHost(MemoryMarshal.AsBytes(result.AsSpan()), mv.Ptr); }
        finally { mv.Release(); }
        return result;
    }

    public DeviceTensor GroupNormApply(DeviceTensor x, float[] meanVar, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        var xc = C(x, "group norm apply", "x");
        var (n, hw, c) = NormDims(xc, groups, "group norm apply");
        if (meanVar.Length != n * groups * 2)
            throw new PisaException($"group norm apply: {meanVar.Length} statistics for x {S(xc)} with {groups} groups (need {n * groups * 2})");
        CheckAffine(gamma, beta, c);
        if (xc.Count == 0) return New(xc.Shape);
        var mv = new DeviceMemory(_rt, meanVar.Length * 4L);
        try
        {
            _rt.CopyToDevice(mv.Ptr, MemoryMarshal.AsBytes(meanVar.AsSpan()));
            return ApplyStats(xc, mv, gamma, beta, groups, eps, silu, hw, c);
        }
        finally { mv.Release(); }
    }

    /// <summary>gn_apply with (mean, var) pairs already on the device.</summary>
    private CudaTensor ApplyStats(CudaTensor x, DeviceMemory meanVar, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu, int hw, int c)
    {
        var y = New(x.Shape);
        try { _k.GnApply(x.Ptr, meanVar.Ptr, _weights.Vector(gamma), _weights.Vector(beta), y.Ptr, Int(x.Count, "group norm"), Int((long)hw * c, "group norm"), c, groups, eps, silu); }
        catch { y.Dispose(); throw; }
        return y;
    }

    /// <summary>GroupNorm as it was before issue 9 (gn_partial_stats, gn_finalize_stats, gn_apply: three launches), kept
    /// as bench/kernels/groupnorm's v1 so that the versions can be compared on one GPU.</summary>
    internal DeviceTensor GroupNormThreeLaunches(DeviceTensor x, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        var xc = C(x, "group norm", "x");
        var (n, hw, c) = NormDims(xc, groups, "group norm");
        CheckAffine(gamma, beta, c);
        if (xc.Count == 0) return New(xc.Shape);
        var mv = Stats(xc, n, hw, c, groups);
        try { return ApplyStats(xc, mv, gamma, beta, groups, eps, silu, hw, c); }
        finally { mv.Release(); }
    }
}
