using PiSa.Engine.Models.Clip;
using static PiSa.Tests.Models.UnetClip.UnetClipFixtures;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>CLIPTextModel last_hidden_state against text.safetensors (transformers 4.28 on the tiny text encoder).</summary>
public class UnetClipClipTests
{
    public static TheoryData<string, string> Cases()
    {
        var d = new TheoryData<string, string>();
        foreach (var b in UnetClipBackends.Names)
            foreach (var p in new[] { "empty", "prompt", "long" })
                d.Add(b, p);
        return d;
    }

    [Theory, MemberData(nameof(Cases))]
    public void Encode_MatchesTransformers(string backend, string prompt)
    {
        using var ops = UnetClipBackends.Create(backend);
        var text = Load(TextFile);
        var ids = text["ids_" + prompt].Data.Select(v => (int)v).ToArray();
        var model = new ClipTextModel(ClipConfig(), TextWeights(), ops);
        using var y = model.Encode(ids);
        AssertClose(text["embeds_" + prompt], ops.Download(y));
    }

    [Fact]
    public void Encode_RejectsOutOfVocabularyIds()
    {
        using var ops = new NaiveOps();
        var model = new ClipTextModel(ClipConfig(), TextWeights(), ops);
        var ex = Assert.Throws<PiSa.Engine.PisaException>(() => model.Encode([49406, 1 << 20, 49407]));
        Assert.Contains("vocabulary", ex.Message);
    }
}
