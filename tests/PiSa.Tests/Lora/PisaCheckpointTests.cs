using PiSa.Engine;
using PiSa.Engine.Formats;
using PiSa.Engine.Lora;
using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Lora;

public class PisaCheckpointTests
{
    internal static string Pkl => Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl");
    internal static string Safetensors => Path.Combine(FixturePaths.Tiny, "pisa_sr.safetensors");
    internal static string Unet => Path.Combine(FixturePaths.Tiny, "sd", "unet", "diffusion_pytorch_model.safetensors");

    internal static void AssertSameCheckpoint(PisaCheckpoint a, PisaCheckpoint b)
    {
        foreach (var kind in LoraModuleLists.Kinds)
            foreach (var group in LoraModuleLists.Groups)
                Assert.Equal(a.Lists(kind).Get(group), b.Lists(kind).Get(group));
        Assert.Equal(a.RankPix, b.RankPix);
        Assert.Equal(a.RankSem, b.RankSem);
        Assert.Equal(a.LoraAlpha, b.LoraAlpha);
        Assert.Equal(a.Tensors.Keys.Order(StringComparer.Ordinal), b.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in a.Tensors)
        {
            Assert.Equal(t.Shape, b.Tensors[name].Shape);
            Assert.Equal(t.Data, b.Tensors[name].Data);
        }
        Assert.Equal(a.Adapters.Select(x => (x.Module, x.Kind, x.Group, x.Scaling)), b.Adapters.Select(x => (x.Module, x.Kind, x.Group, x.Scaling)));
    }

    [Fact]
    public void PklAndSafetensorsLoadIdentically()
    {
        var fromPkl = PisaCheckpoint.Load(Pkl);
        var fromSt = PisaCheckpoint.Load(Safetensors);
        AssertSameCheckpoint(fromPkl, fromSt);

        Assert.Equal(PisaCheckpoint.DefaultLoraAlpha, fromPkl.LoraAlpha); // the pkl has no alpha: peft's default
        Assert.Equal(8f / fromPkl.RankPix, fromPkl.ScalingPix);
        Assert.Equal(8f / fromPkl.RankSem, fromPkl.ScalingSem);
        // Two tensors per adapter, every tensor used.
        Assert.Equal(fromPkl.Tensors.Count, 2 * fromPkl.Adapters.Count);
        Assert.Equal(fromPkl.Pix.Count + fromPkl.Sem.Count, fromPkl.Adapters.Count);
        Assert.Contains(fromPkl.Adapters, a => a.A.Rank == 4 && a.A.Dim(2) == 3); // has 3x3 convs
        Assert.Contains(fromPkl.Adapters, a => a.A.Rank == 2);                     // and linears
    }

    [Fact]
    public void MetadataWrittenMatchesTheFixtureConvention()
    {
        var ckpt = PisaCheckpoint.Load(Pkl);
        using var st = SafetensorsFile.Open(Safetensors);
        Assert.Equal(st.Metadata.OrderBy(kv => kv.Key), ckpt.ToMetadata().OrderBy(kv => kv.Key));
    }

    /// <summary>Naive reference: dW[o, i, y, x] = scaling * sum_r B[o, r] * A[r, i, y, x] in double, by explicit indices.</summary>
    private static double[] NaiveDelta(HostTensor a, HostTensor b, double scaling)
    {
        int r = a.Dim(0), o = b.Dim(0), inDim = a.Dim(1);
        int kh = a.Rank == 4 ? a.Dim(2) : 1, kw = a.Rank == 4 ? a.Dim(3) : 1;
        var d = new double[o * inDim * kh * kw];
        for (int oo = 0; oo < o; oo++)
            for (int i = 0; i < inDim; i++)
                for (int y = 0; y < kh; y++)
                    for (int x = 0; x < kw; x++)
                    {
                        double s = 0;
                        for (int j = 0; j < r; j++)
                            s += (double)b.Data[oo * r + j] * a.Data[((j * inDim + i) * kh + y) * kw + x];
                        d[((oo * inDim + i) * kh + y) * kw + x] = scaling * s;
                    }
        return d;
    }

    [Fact]
    public void DeltaMatchesNaiveComputation()
    {
        var ckpt = PisaCheckpoint.Load(Pkl);
        foreach (var a in ckpt.Adapters)
        {
            double scaling = 8.0 / ckpt.Rank(a.Kind);
            var expected = NaiveDelta(a.A, a.B, scaling);
            var actual = a.ComputeDelta();
            Assert.Equal(expected.Length, actual.Length);
            double max = expected.Max(Math.Abs);
            Assert.True(max > 0, $"{a.Module}: zero delta, the test would prove nothing");
            int bad = Enumerable.Range(0, actual.Length).FirstOrDefault(i => !(Math.Abs(actual[i] - expected[i]) <= 1e-5 * max + 1e-7), -1);
            Assert.True(bad < 0, $"{a.Module} {a.AdapterName}: first mismatch at {bad}");
        }
    }

    [Fact]
    public void ValidatesAgainstTheUnet()
    {
        var ckpt = PisaCheckpoint.Load(Safetensors);
        using var unet = SafetensorsWeightSource.Open(Unet);
        ckpt.ValidateAgainst(unet); // the fixture fits

        // Copy the UNet weights, then break one module's weight shape and drop another.
        var dict = unet.Names.ToDictionary(n => n, unet.Get);
        var victim = ckpt.Adapters.First(a => a.A.Rank == 4);
        var w = dict[victim.WeightName];
        dict[victim.WeightName] = new HostTensor(w.Dim(0) + 1, w.Dim(1), w.Dim(2), w.Dim(3));
        var e = Assert.Throws<PisaException>(() => ckpt.ValidateAgainst(new DictionaryWeightSource(dict, "unet")));
        Assert.Contains(victim.Module, e.Message);
        Assert.Contains("do not fit", e.Message);

        dict[victim.WeightName] = w;
        var linear = ckpt.Adapters.First(a => a.A.Rank == 2);
        dict.Remove(linear.WeightName);
        e = Assert.Throws<PisaException>(() => ckpt.ValidateAgainst(new DictionaryWeightSource(dict, "unet")));
        Assert.Contains($"no weight '{linear.WeightName}'", e.Message);
    }

    [Fact]
    public void RefusesTensorsOutsideTheModuleLists()
    {
        using var dir = new TempDir();
        var ckpt = PisaCheckpoint.Load(Safetensors);
        var tensors = ckpt.Tensors.ToDictionary();
        tensors["stray.lora_A.default_encoder_pix.weight"] = new HostTensor(4, 3);
        string path = dir.File("stray.safetensors");
        SafetensorsWriter.Write(path, tensors, ckpt.ToMetadata());
        var e = Assert.Throws<PisaException>(() => PisaCheckpoint.Load(path));
        Assert.Contains("'stray.lora_A.default_encoder_pix.weight' belongs to no listed module", e.Message);

        // And a listed module without its tensors.
        var missing = ckpt.Tensors.Where(kv => !kv.Key.StartsWith(ckpt.Sem.Decoder[0] + ".lora_B.", StringComparison.Ordinal)).ToDictionary();
        SafetensorsWriter.Write(path, missing, ckpt.ToMetadata());
        e = Assert.Throws<PisaException>(() => PisaCheckpoint.Load(path));
        Assert.Contains(ckpt.Sem.Decoder[0], e.Message);
    }
}
