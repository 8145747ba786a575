using PiSa.Engine.Formats;
using System.Text.Json;
using PiSa.Engine;
using PiSa.Engine.Text;
using PiSa.Tests.Shapes;

namespace PiSa.Tests.Text;

public class ClipTokenizerTests
{
    private static readonly string TokenizerDir = Path.Combine(FixturePaths.Tiny, "sd", "tokenizer");
    private static readonly Lazy<ClipTokenizer> Shared = new(() => ClipTokenizer.Load(TokenizerDir));
    private static ClipTokenizer Tok => Shared.Value;

    private static readonly Lazy<Dictionary<string, int>> Vocab = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TokenizerDir, "vocab.json")));
        return doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
    });

    [Theory]
    [InlineData("empty")]
    [InlineData("prompt")]
    [InlineData("long")]
    public void Fixture_prompts_give_the_reference_ids(string key)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixturePaths.Tiny, "manifest.json")));
        string prompt = manifest.RootElement.GetProperty("text").GetProperty("prompts").GetProperty(key).GetString()!;
        using var text = SafetensorsFile.Open(Path.Combine(FixturePaths.Tiny, "text.safetensors"));
        var expected = text.I64("ids_" + key);
        Assert.Equal(77, expected.Length);
        Assert.Equal(expected.Select(x => (int)x), Tok.Encode(prompt));
    }

    [Fact]
    public void Loads_special_tokens_and_length_from_the_tokenizer_files()
    {
        Assert.Equal(49406, Tok.BosId);
        Assert.Equal(49407, Tok.EosId);
        Assert.Equal(0, Tok.PadId);  // SD2 pads with "!"
        Assert.Equal(49407, Tok.UnkId);
        Assert.Equal(77, Tok.MaxLength);
        Assert.Equal(49408, Tok.VocabSize);
    }

    [Theory]
    [MemberData(nameof(ClipTokenizerCases.Cases), MemberType = typeof(ClipTokenizerCases))]
    public void Hand_made_prompts_give_the_reference_ids(string prompt, int[] body)
    {
        var expected = new List<int> { 49406 };
        expected.AddRange(body);
        expected.Add(49407);
        while (expected.Count < 77) expected.Add(0);
        Assert.Equal(expected, Tok.Encode(prompt));
    }

    [Fact]
    public void Exclamation_marks_become_the_pad_token_as_in_sd2_transformers()
    {
        // The transformers result reported in diffusers issue #4153 for SD2's tokenizer.
        var ids = Tok.Encode("! !! !!!");
        Assert.Equal(new[] { 49406, 0, 0, 0, 0, 0, 0, 49407 }, ids.Take(8));
    }

    [Fact]
    public void Simple_words_map_to_their_vocab_entries()
    {
        // Whole words present in vocab.json come out as the single "word</w>" entry.
        var v = Vocab.Value;
        var ids = Tok.Encode("a photo of a cat");
        Assert.Equal(new[] { 49406, v["a</w>"], v["photo</w>"], v["of</w>"], v["a</w>"], v["cat</w>"], 49407, 0 }, ids.Take(8));
        Assert.Equal(Tok.Encode("dog"), Tok.Encode("  DOG \n"));
        Assert.Equal(v["dog</w>"], Tok.Encode("Dog")[1]);
        // Punctuation is split off before BPE; digits are one token each.
        Assert.Equal(new[] { v["cat</w>"], v[",</w>"], v["1</w>"], v["2</w>"] }, Tok.Encode("cat,12").Skip(1).Take(4));
        // Accents are stripped by the no-ftfy clean-up: "café" encodes as "cafe".
        Assert.Equal(Tok.Encode("cafe"), Tok.Encode("café"));
    }

    [Fact]
    public void Structure_bos_eos_padding_and_length()
    {
        foreach (var prompt in new[] { "", "x", "a photo of a cat, high quality", "many words here and there" })
        {
            var ids = Tok.Encode(prompt);
            Assert.Equal(77, ids.Length);
            Assert.Equal(49406, ids[0]);
            int eos = Array.IndexOf(ids, 49407);
            Assert.True(eos >= 1);
            Assert.Equal(Tok.TokenIds(prompt).Count + 1, eos);
            Assert.All(ids.Skip(eos + 1), id => Assert.Equal(0, id));
        }
    }

    [Fact]
    public void Long_prompts_are_cut_to_75_tokens_keeping_eos_last()
    {
        string prompt = string.Join(" ", Enumerable.Range(0, 200).Select(i => "cat"));
        var all = Tok.TokenIds(prompt);
        Assert.Equal(200, all.Count);
        var ids = Tok.Encode(prompt);
        Assert.Equal(77, ids.Length);
        Assert.Equal(49406, ids[0]);
        Assert.Equal(49407, ids[76]);
        Assert.Equal(all.Take(75), ids.Skip(1).Take(75));
        // Exactly 75 tokens fit without truncation; 76 lose the last one.
        string p75 = string.Join(" ", Enumerable.Repeat("dog", 74).Append("cat"));
        Assert.Equal(Vocab.Value["cat</w>"], Tok.Encode(p75)[75]);
        Assert.Equal(49407, Tok.Encode(p75)[76]);
        string p76 = p75 + " fox";
        Assert.Equal(Tok.Encode(p75), Tok.Encode(p76));
    }

    [Fact]
    public void Missing_files_are_one_line_errors()
    {
        var e = Assert.Throws<PisaException>(() => ClipTokenizer.Load(Path.Combine(Path.GetTempPath(), "pisa-no-tokenizer-here")));
        Assert.Contains("vocab.json", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
