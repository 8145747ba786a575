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
        // AttentionWindows fails too: on a backend without its own, it slices and calls the broken Attention.
        var failed = Failures(new SwappedKv(new CpuOps()));
        Assert.NotEmpty(failed);
        Assert.All(failed, f => Assert.StartsWith("Attention", f.Op));
        int cases = OpsSelfTest.Run(new CpuOps(), new CpuOps(), includeLarge: false).Count(r => r.Op.StartsWith("Attention", StringComparison.Ordinal));
        Assert.Equal(cases, failed.Count);
    }

    [Fact]
    public void QueryReadAsKeyFailsTheEqualLengthCases()
    {
        var failed = Failures(new QueryAsKey(new CpuOps()));
        Assert.NotEmpty(failed);
        Assert.All(failed, f => Assert.StartsWith("Attention", f.Op));
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
