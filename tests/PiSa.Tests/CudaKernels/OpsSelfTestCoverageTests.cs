using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// OpsSelfTest must exercise every IOps member. Without a GPU (and before the CPU backend lands) it is
/// run here with CudaOps over the recording fake on both sides, wrapped to log which members it calls;
/// the numbers are meaningless here, the coverage and the absence of crashes are what is checked.
/// </summary>
public class OpsSelfTestCoverageTests
{
    private sealed class Recording(IOps inner, HashSet<string> seen) : IOps
    {
        private T Log<T>(string name, T v) { seen.Add(name); return v; }
        public string Name => inner.Name;
        public DeviceTensor Upload(HostTensor t) => Log(nameof(Upload), inner.Upload(t));
        public HostTensor Download(DeviceTensor t) => Log(nameof(Download), inner.Download(t));
        public DeviceTensor Reshape(DeviceTensor x, params int[] shape) => Log(nameof(Reshape), inner.Reshape(x, shape));
        public DeviceTensor Conv2d(DeviceTensor x, HostTensor w, HostTensor? b, int s, Pad2d p, DeviceTensor? r = null) => Log(nameof(Conv2d), inner.Conv2d(x, w, b, s, p, r));
        public DeviceTensor Linear(DeviceTensor x, HostTensor w, HostTensor? b, DeviceTensor? r = null) => Log(nameof(Linear), inner.Linear(x, w, b, r));
        public DeviceTensor GroupNormConcat(DeviceTensor a, DeviceTensor b, HostTensor g, HostTensor be, int n, float e, bool s) => Log(nameof(GroupNormConcat), inner.GroupNormConcat(a, b, g, be, n, e, s));
        public DeviceTensor LinearGeglu(DeviceTensor x, HostTensor w, HostTensor? b) => Log(nameof(LinearGeglu), inner.LinearGeglu(x, w, b));
        public DeviceTensor Conv2dUpsampled(DeviceTensor x, int h, int w, HostTensor wt, HostTensor? b, int s, Pad2d p) => Log(nameof(Conv2dUpsampled), inner.Conv2dUpsampled(x, h, w, wt, b, s, p));
        public DeviceTensor Conv2dConcat(DeviceTensor a, DeviceTensor b, HostTensor w, HostTensor? bias, int s, Pad2d p, DeviceTensor? r = null) => Log(nameof(Conv2dConcat), inner.Conv2dConcat(a, b, w, bias, s, p, r));
        public DeviceTensor GroupNorm(DeviceTensor x, HostTensor g, HostTensor b, int n, float e, bool s) => Log(nameof(GroupNorm), inner.GroupNorm(x, g, b, n, e, s));
        public float[] GroupNormStats(DeviceTensor x, int n) => Log(nameof(GroupNormStats), inner.GroupNormStats(x, n));
        public DeviceTensor GroupNormApply(DeviceTensor x, float[] mv, HostTensor g, HostTensor b, int n, float e, bool s) => Log(nameof(GroupNormApply), inner.GroupNormApply(x, mv, g, b, n, e, s));
        public DeviceTensor LayerNorm(DeviceTensor x, HostTensor g, HostTensor b, float e) => Log(nameof(LayerNorm), inner.LayerNorm(x, g, b, e));
        public DeviceTensor Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int h, bool c) => Log(nameof(Attention), inner.Attention(q, k, v, h, c));
        public DeviceTensor Replayable(object key, DeviceTensor x, Func<DeviceTensor, DeviceTensor> f) => Log(nameof(Replayable), inner.Replayable(key, x, f));
        public DeviceTensor AttentionWindows(DeviceTensor q, int qs, DeviceTensor kv, int ks, int vs, int w, int h, bool c) => Log(nameof(AttentionWindows), inner.AttentionWindows(q, qs, kv, ks, vs, w, h, c));
        public DeviceTensor Silu(DeviceTensor x) => Log(nameof(Silu), inner.Silu(x));
        public DeviceTensor Gelu(DeviceTensor x) => Log(nameof(Gelu), inner.Gelu(x));
        public DeviceTensor Geglu(DeviceTensor x) => Log(nameof(Geglu), inner.Geglu(x));
        public DeviceTensor Axpby(DeviceTensor a, DeviceTensor b, float al, float be) => Log(nameof(Axpby), inner.Axpby(a, b, al, be));
        public DeviceTensor ScaleShift(DeviceTensor x, float s, float t) => Log(nameof(ScaleShift), inner.ScaleShift(x, s, t));
        public DeviceTensor Clamp(DeviceTensor x, float lo, float hi) => Log(nameof(Clamp), inner.Clamp(x, lo, hi));
        public DeviceTensor AddChannelVector(DeviceTensor x, DeviceTensor v) => Log(nameof(AddChannelVector), inner.AddChannelVector(x, v));
        public DeviceTensor UpsampleNearest2x(DeviceTensor x) => Log(nameof(UpsampleNearest2x), inner.UpsampleNearest2x(x));
        public DeviceTensor ConcatChannels(DeviceTensor a, DeviceTensor b) => Log(nameof(ConcatChannels), inner.ConcatChannels(a, b));
        public DeviceTensor SliceChannels(DeviceTensor x, int s, int c) => Log(nameof(SliceChannels), inner.SliceChannels(x, s, c));
        public DeviceTensor CropSpatial(DeviceTensor x, int y0, int y1, int x0, int x1) => Log(nameof(CropSpatial), inner.CropSpatial(x, y0, y1, x0, x1));
        public long CountNonFinite(DeviceTensor x) => Log(nameof(CountNonFinite), inner.CountNonFinite(x));
        public void Synchronize() { seen.Add(nameof(Synchronize)); inner.Synchronize(); }
        public void ReleaseCachedMemory() { seen.Add(nameof(ReleaseCachedMemory)); inner.ReleaseCachedMemory(); }
        public void EndStage() { seen.Add(nameof(EndStage)); inner.EndStage(); }
        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public void SelfTestCallsEveryIOpsMemberWithoutErrors()
    {
        var seen = new HashSet<string>();
        var rtA = new FakeGpuRuntime(); var rtB = new FakeGpuRuntime();
        using var a = new Recording(new CudaOps(rtA), seen);
        using var b = new Recording(new CudaOps(rtB), seen);
        var results = OpsSelfTest.Run(a, b, includeLarge: false);
        Assert.All(results, r => Assert.Null(r.Error));
        Assert.True(results.Count > 30);
        var members = typeof(IOps).GetMethods().Select(m => m.Name).Where(n => n != "Dispose" && n != "Range" && !n.StartsWith("get_")).Distinct();   // Range marks work, computes nothing
        foreach (var m in members) Assert.Contains(m, seen);
        Assert.Contains("FAIL", OpsSelfTest.Format([new OpCheck("X", "c", 1, 0.01, false)]));
    }

    [Fact]
    public void SelfTestCasesAreValidForTheCpuBackend()
    {
        using var a = new PiSa.Engine.Backends.Cpu.CpuOps();
        using var b = new PiSa.Engine.Backends.Cpu.CpuOps();
        var results = OpsSelfTest.Run(a, b, includeLarge: false);
        Assert.All(results, r => Assert.True(r.Passed && r.RelL2 == 0, r.ToString()));
    }
}
