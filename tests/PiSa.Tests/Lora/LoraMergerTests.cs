using PiSa.Engine.Formats;
using PiSa.Engine.Lora;

namespace PiSa.Tests.Lora;

public class LoraMergerTests
{
    [Fact]
    public void FusedAtOneOneIsExactlyPixPlusSemanticDelta()
    {
        var ckpt = PisaCheckpoint.Load(PisaCheckpointTests.Pkl);
        using var unet = SafetensorsWeightSource.Open(PisaCheckpointTests.Unet);
        var pix = LoraMerger.PixWeights(unet, ckpt);
        var pisa = LoraMerger.PisaWeights(unet, ckpt);

        foreach (var name in pisa.MergedNames)
        {
            // W_pisa = W_pix + dW_sem, bit for bit.
            var expected = (float[])pix.Get(name).Data.Clone();
            foreach (var a in ckpt.AdaptersOf(LoraKind.Sem).Where(a => a.WeightName == name))
            {
                var d = a.ComputeDelta();
                for (int i = 0; i < expected.Length; i++) expected[i] += d[i];
            }
            Assert.Equal(expected, pisa.Get(name).Data);
            Assert.NotEqual(unet.Get(name).Data, pisa.Get(name).Data);
        }
    }

    [Fact]
    public void FusedMatchesTheFormulaAndSharesUntouchedTensors()
    {
        var ckpt = PisaCheckpoint.Load(PisaCheckpointTests.Safetensors);
        using var unet = SafetensorsWeightSource.Open(PisaCheckpointTests.Unet);
        const float lp = 0.5f, ls = 1.2f;
        var fused = LoraMerger.FusedWeights(unet, ckpt, lp, ls);

        int merged = 0;
        foreach (var name in unet.Names)
        {
            var t = fused.Get(name);
            Assert.Same(t, fused.Get(name)); // same object on every call
            var adapters = ckpt.Adapters.Where(a => a.WeightName == name).ToList();
            if (adapters.Count == 0)
            {
                Assert.Same(unet.Get(name), t); // biases, norms, untouched modules: the base objects
                continue;
            }
            merged++;
            var w = unet.Get(name).Data;
            var deltas = adapters.Select(a => (Coef: a.Kind == LoraKind.Pix ? lp : ls, D: a.ComputeDelta())).ToList();
            for (int i = 0; i < w.Length; i++)
            {
                double expected = w[i];
                foreach (var (coef, d) in deltas) expected += coef * d[i];
                if (!(Math.Abs(t.Data[i] - expected) <= 1e-5 * (1 + Math.Abs(expected))))
                    Assert.Fail($"{name}[{i}]: {t.Data[i]} vs {expected}");
            }
        }
        Assert.Equal(ckpt.Adapters.Select(a => a.WeightName).Distinct().Count(), merged);
    }

    [Fact]
    public void ZeroCoefficientsGiveTheBaseObjects()
    {
        var ckpt = PisaCheckpoint.Load(PisaCheckpointTests.Safetensors);
        using var unet = SafetensorsWeightSource.Open(PisaCheckpointTests.Unet);
        var none = LoraMerger.FusedWeights(unet, ckpt, 0, 0);
        Assert.Empty(none.MergedNames);
        foreach (var name in unet.Names) Assert.Same(unet.Get(name), none.Get(name));
    }
}

/// <summary>Merged sets release the base copies they replaced, and other sets still see the right values.</summary>
public sealed class LoraMergeEvictionTests
{
    [Fact]
    public void Merging_evicts_the_base_copy_and_a_later_set_rereads_identical_values()
    {
        string sd = Path.Combine(FixturePaths.Tiny, "sd", "unet", "diffusion_pytorch_model.safetensors");
        using var unet = PiSa.Engine.Formats.SafetensorsWeightSource.Open(sd);
        var ckpt = PiSa.Engine.Lora.PisaCheckpoint.Load(Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"));
        string name = ckpt.Adapters[0].WeightName;
        var baseBefore = unet.Get(name);
        var baseValues = (float[])baseBefore.Data.Clone();

        var pisa = PiSa.Engine.Lora.LoraMerger.PisaWeights(unet, ckpt);
        var merged = pisa.Get(name);
        Assert.NotSame(baseBefore, merged);
        // Evicted: the base source hands out a fresh object with the same values.
        var baseAfter = unet.Get(name);
        Assert.NotSame(baseBefore, baseAfter);
        Assert.Equal(baseValues, baseAfter.Data);
        // The pixel set merges from the re-read base and is still W_sd + dW_pix; W_pisa = W_pix + dW_sem holds.
        var pix = PiSa.Engine.Lora.LoraMerger.PixWeights(unet, ckpt).Get(name);
        var expectedPisa = PiSa.Engine.Lora.LoraMerger.Merge(pix,
            ckpt.Adapters.Where(a => a.WeightName == name && a.Kind == PiSa.Engine.Lora.LoraKind.Sem).Select(a => (a, 1f)));
        Assert.Equal(expectedPisa.Data, merged.Data);
        Assert.Same(merged, pisa.Get(name));
    }
}
