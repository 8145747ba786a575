using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends;

/// <summary>
/// The operations every model forward pass is written against, once, for all backends.
///
/// Conventions (all backends):
/// - Image activations are NHWC [N, H, W, C]; sequence activations are [B, L, C].
/// - Parameters are passed as <see cref="HostTensor"/> in PyTorch layout (conv [O, I, kh, kw],
///   linear [out, in], vectors [C]). A backend uploads and repacks each parameter once and caches it by
///   object identity, so the same HostTensor object must be passed on every call (weight sources do).
/// - Every op returns a new tensor; inputs are never modified. Callers dispose intermediates.
/// - Results are float32-exact on the CPU backend; the CUDA backend stores fp16 and accumulates in fp32.
/// </summary>
public interface IOps : IDisposable
{
    /// <summary>"cpu", "cuda" or "ptx" (the CUDA backend on the PTX interpreter).</summary>
    string Name { get; }

    // ---- transfers ------------------------------------------------------------------------------
    DeviceTensor Upload(HostTensor t);
    HostTensor Download(DeviceTensor t);
    /// <summary>Waits until all queued work is finished (no-op on the CPU backend); used by stage timers.</summary>
    void Synchronize() { }
    /// <summary>Lets go of memory kept for reuse (the CPU backend's free activation arrays). The pipeline calls it
    /// when the image size changes, so arrays of a size that will not come back are not kept.</summary>
    void ReleaseCachedMemory() { }
    /// <summary>A pipeline stage (text encoder, VAE encode, UNet, VAE decode) has ended and freed its activations. A
    /// backend whose cache only serves equal sizes (CudaOps' device pool) gives it back here, so the next stage's
    /// peak does not add to this one's; the CPU backend keeps its arrays (its estimate counts the stages added).</summary>
    void EndStage() { }
    /// <summary>Whether tensors live in memory apart from the host's (a GPU's): then parking a tensor on the host
    /// (download, free, upload later) lowers this backend's peak; on the CPU it would only copy.</summary>
    bool HasDeviceMemory => false;
    /// <summary>A view of the same data with another shape of equal element count (no copy). The owner and its
    /// views share one storage, released when the FIRST of them is disposed: dispose exactly the one you keep,
    /// after the last use of all of them.</summary>
    DeviceTensor Reshape(DeviceTensor x, params int[] shape);

    // ---- weight cache -----------------------------------------------------------------------------
    /// <summary>Bytes per parameter element of the backend's packed copy (4: fp32 on the CPU; 2: fp16 on CUDA);
    /// used to budget cached weight sets.</summary>
    int PackedWeightBytesPerElement => 4;
    /// <summary>Whether the backend drops a weight's float32 host copy once it has packed it, where the tensor can
    /// be made again (<see cref="HostTensor.ReleaseData"/>): the CPU backend does, so a weight is held once.</summary>
    bool ReleasesHostWeightsWhenPacked => false;

    // ---- layers -------------------------------------------------------------------------------
    /// <summary>2-D convolution of NHWC x with a [O, I, kh, kw] weight, stride s, explicit zero padding,
    /// optional bias [O] and optional residual (same shape as the output) added after the bias.</summary>
    DeviceTensor Conv2d(DeviceTensor x, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual = null);

    /// <summary>y = x @ W^T + b (+ residual) over the last dimension; W is [out, in].</summary>
    DeviceTensor Linear(DeviceTensor x, HostTensor weight, HostTensor? bias, DeviceTensor? residual = null);

    // ---- fused compositions: each is exactly the composition its default computes; a backend may fold the
    // intermediate away (the CUDA backend does: GEGLU in the GEMM's epilogue, upsampling and concat in the conv's
    // gather). The CPU reference keeps these defaults.

    /// <summary>GEGLU of a linear layer: Geglu(Linear(x, weight, bias)), weight [2F, in]; returns [..., F].</summary>
    DeviceTensor LinearGeglu(DeviceTensor x, HostTensor weight, HostTensor? bias) => ComposeLinearGeglu(this, x, weight, bias);

    /// <summary>The composition <see cref="LinearGeglu"/> stands for (a fusing backend's unfused path too).</summary>
    internal static DeviceTensor ComposeLinearGeglu(IOps ops, DeviceTensor x, HostTensor weight, HostTensor? bias)
    {
        using var f = ops.Linear(x, weight, bias);
        return ops.Geglu(f);
    }

    /// <summary>Conv2d of the nearest-upsampled NHWC x: the 2x upsampling cropped to upH x upW rows and columns, where
    /// upH is 2H or 2H - 1 and upW 2W or 2W - 1 (the sizes diffusers' Upsample2D asks for; see NearestResize).</summary>
    DeviceTensor Conv2dUpsampled(DeviceTensor x, int upH, int upW, HostTensor weight, HostTensor? bias, int stride, Pad2d pad) =>
        ComposeConv2dUpsampled(this, x, upH, upW, weight, bias, stride, pad);

    /// <summary>The composition <see cref="Conv2dUpsampled"/> stands for.</summary>
    internal static DeviceTensor ComposeConv2dUpsampled(IOps ops, DeviceTensor x, int upH, int upW, HostTensor weight, HostTensor? bias, int stride, Pad2d pad)
    {
        CheckUpsampledSize(x, upH, upW);
        var up = ops.UpsampleNearest2x(x);
        if (upH != up.Dim(1) || upW != up.Dim(2))
        {
            var cropped = ops.CropSpatial(up, 0, upH, 0, upW);
            up.Dispose();
            up = cropped;
        }
        using (up) return ops.Conv2d(up, weight, bias, stride, pad);
    }

    /// <summary>Conv2d of ConcatChannels(a, b) (the UNet's skip connection), with the optional residual.</summary>
    DeviceTensor Conv2dConcat(DeviceTensor a, DeviceTensor b, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual = null) =>
        ComposeConv2dConcat(this, a, b, weight, bias, stride, pad, residual);

    /// <summary>The composition <see cref="Conv2dConcat"/> stands for.</summary>
    internal static DeviceTensor ComposeConv2dConcat(IOps ops, DeviceTensor a, DeviceTensor b, HostTensor weight, HostTensor? bias, int stride, Pad2d pad, DeviceTensor? residual)
    {
        using var cat = ops.ConcatChannels(a, b);
        return ops.Conv2d(cat, weight, bias, stride, pad, residual);
    }

    /// <summary>Whether <see cref="GroupNormConcat"/> and <see cref="Conv2dConcat"/> read the two tensors in place. A
    /// model whose concat has several readers makes the concat once itself where they do not (the defaults would
    /// make it once per reader).</summary>
    bool FoldsConcat => false;

    /// <summary>GroupNorm of ConcatChannels(a, b) (the first read of the UNet's skip connection in a resnet).</summary>
    DeviceTensor GroupNormConcat(DeviceTensor a, DeviceTensor b, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu) =>
        ComposeGroupNormConcat(this, a, b, gamma, beta, groups, eps, silu);

    /// <summary>The composition <see cref="GroupNormConcat"/> stands for.</summary>
    internal static DeviceTensor ComposeGroupNormConcat(IOps ops, DeviceTensor a, DeviceTensor b, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu)
    {
        using var cat = ops.ConcatChannels(a, b);
        return ops.GroupNorm(cat, gamma, beta, groups, eps, silu);
    }

    /// <summary>The sizes <see cref="Conv2dUpsampled"/> accepts, one check for every backend.</summary>
    internal static void CheckUpsampledSize(DeviceTensor x, int upH, int upW)
    {
        if (x.Rank != 4 || (upH != 2 * x.Dim(1) && upH != 2 * x.Dim(1) - 1) || (upW != 2 * x.Dim(2) && upW != 2 * x.Dim(2) - 1) || upH <= 0 || upW <= 0)
            throw new PisaException($"upsampled conv: x [{ShapeUtil.Format(x.Shape)}] cannot be upsampled to {upH}x{upW} (2x, or 2x - 1)");
    }

    /// <summary>GroupNorm over NHWC (or [B, L, C]: groups over the last dim, statistics over all other
    /// non-batch positions), biased variance, then optional SiLU.</summary>
    DeviceTensor GroupNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu);

    /// <summary>Per-(batch, group) statistics for tiled GroupNorm: returns [N * groups * 2] as
    /// (mean, biased variance) pairs, in float64 accumulated sums converted to float.</summary>
    float[] GroupNormStats(DeviceTensor x, int groups);

    /// <summary>GroupNorm with externally supplied (mean, variance) pairs as returned by <see cref="GroupNormStats"/>.</summary>
    DeviceTensor GroupNormApply(DeviceTensor x, float[] meanVar, HostTensor gamma, HostTensor beta, int groups, float eps, bool silu);

    /// <summary>LayerNorm over the last dimension.</summary>
    DeviceTensor LayerNorm(DeviceTensor x, HostTensor gamma, HostTensor beta, float eps);

    /// <summary>Scaled dot-product attention. q [B, Lq, H*D], k and v [B, Lk, H*D], head h uses channels
    /// [h*D, (h+1)*D). Scale 1/sqrt(D); softmax in float32; causal masks j > i. Returns [B, Lq, H*D].</summary>
    DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int heads, bool causal);

    /// <summary>
    /// <see cref="Attention"/> on channel windows of wider tensors, so a fused projection's output is read in place:
    /// q is channels [qStart, qStart + width) of <paramref name="q"/> [B, Lq, Cq]; k and v are channels
    /// [kStart, kStart + width) and [vStart, vStart + width) of <paramref name="kv"/> [B, Lk, Ckv] (for a fused QKV
    /// projection, q and kv are the same tensor). width = H*D. Returns a contiguous [B, Lq, width]. The default
    /// copies the windows out (backends read them with strides instead).
    /// </summary>
    DeviceTensor AttentionWindows(DeviceTensor q, int qStart, DeviceTensor kv, int kStart, int vStart, int width, int heads, bool causal)
    {
        using var qs = SliceChannels(q, qStart, width);
        using var ks = SliceChannels(kv, kStart, width);
        using var vs = SliceChannels(kv, vStart, width);
        return Attention(qs, ks, vs, heads, causal);
    }

    /// <summary>A named range of work (a pipeline stage, a model block) until disposed: NVTX on CUDA, the profile's
    /// grouping. Default: nothing.</summary>
    IDisposable Range(string name) => NoRange.Instance;

    /// <summary>
    /// Runs <paramref name="f"/> on <paramref name="input"/>. A backend may record f's device work once per key and
    /// input shape and replay it when the key comes again (CUDA graphs): f must then depend only on input's values
    /// for a given key; whatever else it reads (weights, the cached prompt's K/V) must stay the same for that key,
    /// and f must not copy to or from the host. The result is a new tensor the caller owns. Default: f(input).
    /// </summary>
    DeviceTensor Replayable(object key, DeviceTensor input, Func<DeviceTensor, DeviceTensor> f) => f(input);

    // ---- activations and elementwise ------------------------------------------------------------
    DeviceTensor Silu(DeviceTensor x);
    /// <summary>Exact (erf) GELU, as torch.nn.functional.gelu.</summary>
    DeviceTensor Gelu(DeviceTensor x);
    /// <summary>GEGLU: x [..., 2F] -> a * gelu(g) with a = x[..., :F], g = x[..., F:].</summary>
    DeviceTensor Geglu(DeviceTensor x);
    /// <summary>alpha * a + beta * b, same shapes.</summary>
    DeviceTensor Axpby(DeviceTensor a, DeviceTensor b, float alpha, float beta);
    /// <summary>x * scale + shift (elementwise constants).</summary>
    DeviceTensor ScaleShift(DeviceTensor x, float scale, float shift);
    /// <summary>Clamp to [lo, hi].</summary>
    DeviceTensor Clamp(DeviceTensor x, float lo, float hi);
    /// <summary>x [N, ..., C] + v [N, C] (or v [1, C]) broadcast over the middle dimensions.</summary>
    DeviceTensor AddChannelVector(DeviceTensor x, DeviceTensor v);

    // ---- checks ---------------------------------------------------------------------------------
    /// <summary>How many elements of x are NaN or infinite (fp16 storage overflows to inf above 65504).
    /// Waits for the work that produces x; the pipeline calls it once per stage output.</summary>
    long CountNonFinite(DeviceTensor x);

    // ---- shape ----------------------------------------------------------------------------------
    /// <summary>Nearest-neighbour 2x upsampling of NHWC.</summary>
    DeviceTensor UpsampleNearest2x(DeviceTensor x);
    /// <summary>Concatenate along the last (channel) dimension; all other dimensions equal.</summary>
    DeviceTensor ConcatChannels(DeviceTensor a, DeviceTensor b);
    /// <summary>Channels [start, start+count) of the last dimension.</summary>
    DeviceTensor SliceChannels(DeviceTensor x, int start, int count);
    /// <summary>Spatial crop of NHWC: rows [y0, y1), columns [x0, x1).</summary>
    DeviceTensor CropSpatial(DeviceTensor x, int y0, int y1, int x0, int x1);
}

/// <summary>The range of a backend that does not mark ranges.</summary>
public sealed class NoRange : IDisposable
{
    public static readonly NoRange Instance = new();
    public void Dispose() { }
}
