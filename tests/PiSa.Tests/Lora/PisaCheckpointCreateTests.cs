using PiSa.Engine;
using PiSa.Engine.Formats;
using PiSa.Engine.Lora;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Lora;

public class PisaCheckpointCreateTests
{
    [Fact]
    public void Create_from_a_loaded_checkpoints_parts_gives_the_same_checkpoint()
    {
        var loaded = PisaCheckpoint.Load(PisaCheckpointTests.Safetensors);
        var made = PisaCheckpoint.Create("copy", loaded.Pix, loaded.Sem, loaded.RankPix, loaded.RankSem, loaded.Tensors, loaded.LoraAlpha);
        PisaCheckpointTests.AssertSameCheckpoint(loaded, made);
        Assert.Equal("copy", made.Source);
    }

    [Fact]
    public void Create_refuses_a_missing_tensor_and_a_stray_one()
    {
        var loaded = PisaCheckpoint.Load(PisaCheckpointTests.Safetensors);
        var missing = loaded.Tensors.Skip(1).ToDictionary(kv => kv.Key, kv => kv.Value);
        var e = Assert.Throws<PisaException>(() => PisaCheckpoint.Create("m", loaded.Pix, loaded.Sem, loaded.RankPix, loaded.RankSem, missing));
        Assert.Contains(loaded.Tensors.Keys.First(), e.Message);
        var stray = loaded.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        stray["foo.lora_A.default_encoder_pix.weight"] = new HostTensor([4, 2]);
        Assert.Throws<PisaException>(() => PisaCheckpoint.Create("s", loaded.Pix, loaded.Sem, loaded.RankPix, loaded.RankSem, stray));
    }

    [Fact]
    public void Random_checkpoint_has_the_release_structure_of_the_tiny_fixture()
    {
        var release = PisaCheckpoint.Load(PisaCheckpointTests.Safetensors);
        var unetCfg = DiffusersConfig.LoadUNet(Path.Combine(FixturePaths.Tiny, "sd", "unet", "config.json"));
        var random = RandomModel.Checkpoint(unetCfg, release.RankPix, release.RankSem, seed: 7);
        foreach (var kind in LoraModuleLists.Kinds)
            foreach (var group in LoraModuleLists.Groups)
                Assert.Equal(release.Lists(kind).Get(group), random.Lists(kind).Get(group));
        Assert.Equal(release.Tensors.Keys.Order(StringComparer.Ordinal), random.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in release.Tensors) Assert.Equal(t.Shape, random.Tensors[name].Shape);
        using var unet = SafetensorsWeightSource.Open(PisaCheckpointTests.Unet);
        random.ValidateAgainst(unet);
        // Seeded: the same seed gives the same values, another seed others.
        var again = RandomModel.Checkpoint(unetCfg, release.RankPix, release.RankSem, seed: 7);
        var other = RandomModel.Checkpoint(unetCfg, release.RankPix, release.RankSem, seed: 8);
        string first = random.Tensors.Keys.First();
        Assert.Equal(random.Tensors[first].Data, again.Tensors[first].Data);
        Assert.NotEqual(random.Tensors[first].Data, other.Tensors[first].Data);
    }
}
