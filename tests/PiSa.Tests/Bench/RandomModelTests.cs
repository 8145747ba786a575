using PiSa.Engine;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Bench;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Bench;

public class RandomModelTests
{
    private static string TinySd => Path.Combine(FixturePaths.Tiny, "sd");

    private static Dictionary<string, HostTensor> RunTiny(string? tokenizerDir, ulong seed = RandomModel.DefaultSeed)
    {
        using var ops = new CpuOps();
        using var model = RandomModel.Create(ops, TinySd, tokenizerDir, seed);
        var pipeline = new UpscalePipeline(model);
        var input = BenchRunner.RandomImage(16, 16, 3);
        var result = pipeline.Run(input, new UpscaleOptions { ProcessSize = 64 }, keepTensors: true);
        Assert.Equal(64, result.Output.Width);
        return result.Tensors!;
    }

    private static double Std(float[] v)
    {
        double mean = v.Average(x => (double)x);
        return Math.Sqrt(v.Average(x => (x - mean) * (x - mean)));
    }

    [Fact]
    public void Tiny_random_model_runs_end_to_end_with_finite_order_one_values()
    {
        var t = RunTiny(Path.Combine(TinySd, "tokenizer"));
        foreach (var name in new[] { "prompt_embeds", "lq_latent", "unet_pred", "hq_latent", "decoded" })
        {
            var data = t[name].Data;
            Assert.All(data, x => Assert.True(float.IsFinite(x), $"{name} has a non-finite value"));
            double std = Std(data);
            Assert.InRange(std, name == "decoded" ? 0.01 : 0.1, 10);
        }
        Assert.Equal([1, 4, 8, 8], t["lq_latent"].Shape);
    }

    [Fact]
    public void Same_seed_same_outputs()
    {
        string tok = Path.Combine(TinySd, "tokenizer");
        Assert.Equal(RunTiny(tok, 11)["unet_pred"].Data, RunTiny(tok, 11)["unet_pred"].Data);
    }

    [Fact]
    public void Without_a_tokenizer_the_empty_prompt_uses_the_same_ids_as_the_clip_tokenizer()
    {
        // BOS, EOS, then pad id 0: the real CLIP tokenizer's encoding of "" (49406, 49407, 0, ...).
        using var ops = new CpuOps();
        using var with = RandomModel.Create(ops, TinySd, Path.Combine(TinySd, "tokenizer"), seed: 5);
        using var without = RandomModel.Create(ops, TinySd, null, seed: 5);
        using var other = RandomModel.Create(ops, TinySd, null, seed: 6);
        var a = ops.Download(with.PromptEmbeddings("")).Data;
        Assert.Equal(a, ops.Download(without.PromptEmbeddings("")).Data);
        Assert.NotEqual(a, ops.Download(other.PromptEmbeddings("")).Data); // another seed, other weights
    }

    [Fact]
    public void Without_a_tokenizer_a_non_empty_prompt_is_refused()
    {
        using var ops = new CpuOps();
        using var model = RandomModel.Create(ops, TinySd);
        var e = Assert.Throws<PisaException>(() => model.PromptEmbeddings("a cat"));
        Assert.Contains("no tokenizer", e.Message);
    }

    [Fact]
    public void A_config_folder_without_configs_is_refused_by_path()
    {
        using var ops = new CpuOps();
        using var dir = new TempDir();
        var e = Assert.Throws<PisaException>(() => RandomModel.Create(ops, dir.Path));
        Assert.Contains("unet", e.Message);
    }
}
