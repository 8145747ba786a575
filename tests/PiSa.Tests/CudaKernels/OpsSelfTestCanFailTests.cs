using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// OpsSelfTest is what decides whether a backend is right, so it must be able to fail: CpuOps against CpuOps
/// with one deliberate bug injected (the kind a kernel can really have) must fail exactly that op's cases.
/// </summary>
public class OpsSelfTestCanFailTests
{
    /// <summary>Forwards every member to <paramref name="inner"/>; a test overrides the one it breaks.</summary>
    private class DelegatingOps(IOps inner) : IOps
    {
        public string Name => inner.Name;
        public DeviceTensor Upload(HostTensor t) => inner.Upload(t);
        public HostTensor Download(DeviceTensor t) => inner.Download(t);
        public DeviceTensor Reshape(DeviceTensor x, params int[] shape) => inner.Reshape(x, shape);
        public DeviceTensor Conv2d(DeviceTensor x, HostTensor w, HostTensor? b, int s, Pad2d p, DeviceTensor? r = null) => inner.Conv2d(x, w, b, s, p, r);
        public DeviceTensor Linear(DeviceTensor x, HostTensor w, HostTensor? b, DeviceTensor? r = null) => inner.Linear(x, w, b, r);
        public DeviceTensor GroupNorm(DeviceTensor x, HostTensor g, HostTensor b, int n, float e, bool s) => inner.GroupNorm(x, g, b, n, e, s);
        public float[] GroupNormStats(DeviceTensor x, int n) => inner.GroupNormStats(x, n);
        public DeviceTensor GroupNormApply(DeviceTensor x, float[] mv, HostTensor g, HostTensor b, int n, float e, bool s) => inner.GroupNormApply(x, mv, g, b, n, e, s);
        public DeviceTensor LayerNorm(DeviceTensor x, HostTensor g, HostTensor b, float e) => inner.LayerNorm(x, g, b, e);
        public virtual DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int h, bool c) => inner.Attention(q, k, v, h, c);
        public DeviceTensor Silu(DeviceTensor x) => inner.Silu(x);
        public DeviceTensor Gelu(DeviceTensor x) => inner.Gelu(x);
        public DeviceTensor Geglu(DeviceTensor x) => inner.Geglu(x);
        public DeviceTensor Axpby(DeviceTensor a, DeviceTensor b, float al, float be) => inner.Axpby(a, b, al, be);
        public DeviceTensor ScaleShift(DeviceTensor x, float s, float t) => inner.ScaleShift(x, s, t);
        public DeviceTensor Clamp(DeviceTensor x, float lo, float hi) => inner.Clamp(x, lo, hi);
        public DeviceTensor AddChannelVector(DeviceTensor x, DeviceTensor v) => inner.AddChannelVector(x, v);
        public virtual long CountNonFinite(DeviceTensor x) => inner.CountNonFinite(x);
        public DeviceTensor UpsampleNearest2x(DeviceTensor x) => inner.UpsampleNearest2x(x);
        public DeviceTensor ConcatChannels(DeviceTensor a, DeviceTensor b) => inner.ConcatChannels(a, b);
        public DeviceTensor SliceChannels(DeviceTensor x, int s, int c) => inner.SliceChannels(x, s, c);
        public DeviceTensor CropSpatial(DeviceTensor x, int y0, int y1, int x0, int x1) => inner.CropSpatial(x, y0, y1, x0, x1);
        public void Synchronize() => inner.Synchronize();
        public void Dispose() => inner.Dispose();
    }

    private sealed class SwappedKv(IOps inner) : DelegatingOps(inner)
    {
        public override DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int h, bool c) => base.Attention(q, v, k, h, c);
    }

    private sealed class QueryAsKey(IOps inner) : DelegatingOps(inner)
    {
        public override DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int h, bool c) =>
            q.Shape[1] == k.Shape[1] ? base.Attention(q, q, v, h, c) : base.Attention(q, k, v, h, c);
    }

    /// <summary>A reduction that forgets the tail: counts all but the last element.</summary>
    private sealed class MissesLastElement(IOps inner) : DelegatingOps(inner)
    {
        public override long CountNonFinite(DeviceTensor x)
        {
            var h = Download(x);
            using var head = Upload(new HostTensor([h.Data.Length - 1], h.Data[..^1]));
            return base.CountNonFinite(head);
        }
    }

    /// <summary>A check that tests the fp16 exponent with the wrong mask (0x7800): 65504 counts as non-finite.</summary>
    private sealed class FlagsLargeFinite(IOps inner) : DelegatingOps(inner)
    {
        public override long CountNonFinite(DeviceTensor x) => Download(x).Data.Count(v => !float.IsFinite(v) || Math.Abs(v) >= 32768f);
    }

    private static List<OpCheck> Failures(IOps broken) =>
        OpsSelfTest.Run(new CpuOps(), broken, includeLarge: false).Where(r => !r.Passed).ToList();

    [Fact]
    public void SwappedKeyAndValueFailsEveryAttentionCase()
    {
        var failed = Failures(new SwappedKv(new CpuOps()));
        Assert.NotEmpty(failed);
        Assert.All(failed, f => Assert.Equal("Attention", f.Op));
        int cases = OpsSelfTest.Run(new CpuOps(), new CpuOps(), includeLarge: false).Count(r => r.Op == "Attention");
        Assert.Equal(cases, failed.Count);
    }

    [Fact]
    public void QueryReadAsKeyFailsTheEqualLengthCases()
    {
        var failed = Failures(new QueryAsKey(new CpuOps()));
        Assert.NotEmpty(failed);
        Assert.All(failed, f => Assert.Equal("Attention", f.Op));
        Assert.Contains(failed, f => f.Case.Contains("CLIP"));
    }

    [Fact]
    public void NonFiniteCountsThatMissTheTailOrFlagLargeFiniteValuesFail()
    {
        var tail = Failures(new MissesLastElement(new CpuOps()));
        Assert.NotEmpty(tail);
        Assert.All(tail, f => Assert.Equal("CountNonFinite", f.Op));
        var mask = Failures(new FlagsLargeFinite(new CpuOps()));
        Assert.Contains(mask, f => f.Case.StartsWith("[1,9,24] none"));
        Assert.All(mask, f => Assert.Equal("CountNonFinite", f.Op));
    }
}
