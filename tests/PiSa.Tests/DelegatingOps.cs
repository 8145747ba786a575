using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Tests;

/// <summary>An IOps that forwards every member to an inner backend; a test overrides the members it breaks
/// (OpsSelfTest must fail on a wrong op, the pipeline must stop on a stage that goes non-finite).</summary>
public class DelegatingOps(IOps inner) : IOps
{
    public string Name => inner.Name;
    public virtual DeviceTensor Upload(HostTensor t) => inner.Upload(t);
    public virtual HostTensor Download(DeviceTensor t) => inner.Download(t);
    public virtual DeviceTensor Reshape(DeviceTensor x, params int[] shape) => inner.Reshape(x, shape);
    public virtual DeviceTensor Conv2d(DeviceTensor x, HostTensor w, HostTensor? b, int s, Pad2d p, DeviceTensor? r = null) => inner.Conv2d(x, w, b, s, p, r);
    public virtual DeviceTensor Linear(DeviceTensor x, HostTensor w, HostTensor? b, DeviceTensor? r = null) => inner.Linear(x, w, b, r);
    public virtual DeviceTensor GroupNorm(DeviceTensor x, HostTensor g, HostTensor b, int n, float e, bool s) => inner.GroupNorm(x, g, b, n, e, s);
    public virtual float[] GroupNormStats(DeviceTensor x, int n) => inner.GroupNormStats(x, n);
    public virtual DeviceTensor GroupNormApply(DeviceTensor x, float[] mv, HostTensor g, HostTensor b, int n, float e, bool s) => inner.GroupNormApply(x, mv, g, b, n, e, s);
    public virtual DeviceTensor LayerNorm(DeviceTensor x, HostTensor g, HostTensor b, float e) => inner.LayerNorm(x, g, b, e);
    public virtual DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int h, bool c) => inner.Attention(q, k, v, h, c);
    public virtual DeviceTensor Silu(DeviceTensor x) => inner.Silu(x);
    public virtual DeviceTensor Gelu(DeviceTensor x) => inner.Gelu(x);
    public virtual DeviceTensor Geglu(DeviceTensor x) => inner.Geglu(x);
    public virtual DeviceTensor Axpby(DeviceTensor a, DeviceTensor b, float al, float be) => inner.Axpby(a, b, al, be);
    public virtual DeviceTensor ScaleShift(DeviceTensor x, float s, float t) => inner.ScaleShift(x, s, t);
    public virtual DeviceTensor Clamp(DeviceTensor x, float lo, float hi) => inner.Clamp(x, lo, hi);
    public virtual DeviceTensor AddChannelVector(DeviceTensor x, DeviceTensor v) => inner.AddChannelVector(x, v);
    public virtual long CountNonFinite(DeviceTensor x) => inner.CountNonFinite(x);
    public virtual DeviceTensor UpsampleNearest2x(DeviceTensor x) => inner.UpsampleNearest2x(x);
    public virtual DeviceTensor ConcatChannels(DeviceTensor a, DeviceTensor b) => inner.ConcatChannels(a, b);
    public virtual DeviceTensor SliceChannels(DeviceTensor x, int s, int c) => inner.SliceChannels(x, s, c);
    public virtual DeviceTensor CropSpatial(DeviceTensor x, int y0, int y1, int x0, int x1) => inner.CropSpatial(x, y0, y1, x0, x1);
    public virtual void Synchronize() => inner.Synchronize();
    public virtual void ReleaseCachedMemory() => inner.ReleaseCachedMemory();
    public virtual void EndStage() => inner.EndStage();
    public virtual bool HasDeviceMemory => inner.HasDeviceMemory;
    public virtual void Dispose() => inner.Dispose();
}
