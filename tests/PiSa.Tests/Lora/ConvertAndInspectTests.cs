using PiSa.Cli.Commands;
using PiSa.Engine;
using PiSa.Engine.Lora;

namespace PiSa.Tests.Lora;

public class ConvertAndInspectTests
{
    [Fact]
    public void ConvertedPklLoadsIdenticallyToTheSource()
    {
        using var dir = new TempDir();
        string output = dir.File("converted.safetensors");
        var log = new StringWriter();
        Assert.Equal(0, ConvertCommand.Run(PisaCheckpointTests.Pkl, output, log));
        Assert.Contains("wrote", log.ToString());
        Assert.Single(Directory.GetFiles(dir.Path)); // no temp left behind

        var source = PisaCheckpoint.Load(PisaCheckpointTests.Pkl);
        var converted = PisaCheckpoint.Load(output);
        PisaCheckpointTests.AssertSameCheckpoint(source, converted);
        PisaCheckpointTests.AssertSameCheckpoint(PisaCheckpoint.Load(PisaCheckpointTests.Safetensors), converted);
    }

    [Theory]
    [InlineData("pisa_sr.pkl", "torch checkpoint")]
    [InlineData("pisa_sr.safetensors", "safetensors")]
    public void InspectShowsTensorsAndPisaSummary(string file, string kind)
    {
        var ckpt = PisaCheckpoint.Load(PisaCheckpointTests.Pkl);
        var o = new StringWriter();
        Assert.Equal(0, InspectCommand.Run(Path.Combine(FixturePaths.Tiny, file), o));
        string text = o.ToString();
        Assert.Contains(kind, text);
        Assert.Contains("conv_in.lora_A.default_encoder_pix.weight  F32  [", text);
        Assert.Contains($"rank pix {ckpt.RankPix}", text);
        Assert.Contains($"pix: modules encoder {ckpt.Pix.Encoder.Count}, decoder {ckpt.Pix.Decoder.Count}, others {ckpt.Pix.Others.Count}", text);
        Assert.Contains($"sem: modules encoder {ckpt.Sem.Encoder.Count}, decoder {ckpt.Sem.Decoder.Count}, others {ckpt.Sem.Others.Count}", text);
        Assert.Contains($"{ckpt.Tensors.Count} tensors", text);
    }

    [Fact]
    public void InspectRefusesGarbage()
    {
        using var dir = new TempDir();
        string path = dir.File("garbage.bin");
        File.WriteAllText(path, "hello, this is not a model file at all");
        Assert.Throws<PisaException>(() => InspectCommand.Run(path, new StringWriter()));
        Assert.Throws<PisaException>(() => InspectCommand.Run(dir.File("missing"), new StringWriter()));
        Assert.Throws<PisaException>(() => ConvertCommand.Run(path, dir.File("o.safetensors"), new StringWriter()));
    }

    [Fact]
    public void InspectPlainSafetensors()
    {
        var o = new StringWriter();
        InspectCommand.Run(Path.Combine(FixturePaths.Tiny, "text.safetensors"), o);
        Assert.Contains("ids_prompt  I64  [1, 77]  77", o.ToString());
        Assert.DoesNotContain("PiSA", o.ToString());
    }
}
