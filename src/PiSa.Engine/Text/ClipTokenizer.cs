using System.Text.Json;
using PiSa.Engine.Formats;

namespace PiSa.Engine.Text;

/// <summary>
/// The CLIP BPE tokenizer as Stable Diffusion pipelines call it: ids identical to transformers 4.28's
/// slow CLIPTokenizer loaded with from_pretrained and run without the ftfy package
/// (<c>tokenizer(prompt, max_length=model_max_length, padding="max_length", truncation=True)</c>):
/// <list type="number">
/// <item>the special tokens (bos, eos, unk, pad) are cut out of the raw prompt first and map straight
/// to their ids: with SD2's pad token "!", every '!' in a prompt becomes id 0, not the BPE "!&lt;/w&gt;";</item>
/// <item>the text between them is cleaned (<see cref="ClipTextCleaner"/>), split by CLIP's pattern
/// (<see cref="ClipPreTokenizer"/>) and BPE-encoded (<see cref="ClipBpe"/>);</item>
/// <item>the ids are cut to max_length - 2, wrapped in bos/eos and right-padded with the pad id.</item>
/// </list>
/// </summary>
public sealed class ClipTokenizer
{
    private readonly Dictionary<string, int> _vocab;
    private readonly ClipBpe _bpe;
    private readonly string[] _specials;  // longest first, for leftmost-longest matching

    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    public int UnkId { get; }
    /// <summary>Length of every encoded prompt (tokenizer_config model_max_length; 77 for CLIP).</summary>
    public int MaxLength { get; }
    public int VocabSize => _vocab.Count;

    private ClipTokenizer(Dictionary<string, int> vocab, Dictionary<(string, string), int> ranks,
        string bos, string eos, string pad, string unk, int maxLength, string source)
    {
        _vocab = vocab;
        _bpe = new ClipBpe(ranks);
        MaxLength = maxLength;
        BosId = SpecialId(bos, "bos_token", source);
        EosId = SpecialId(eos, "eos_token", source);
        PadId = SpecialId(pad, "pad_token", source);
        UnkId = SpecialId(unk, "unk_token", source);
        _specials = new[] { bos, eos, pad, unk }.Distinct(StringComparer.Ordinal).OrderByDescending(s => s.Length).ToArray();
    }

    /// <summary>Loads vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json from a tokenizer folder.</summary>
    public static ClipTokenizer Load(string tokenizerDir)
    {
        var vocabPath = Path.Combine(tokenizerDir, "vocab.json");
        var mergesPath = Path.Combine(tokenizerDir, "merges.txt");
        var vocab = ReadVocab(vocabPath);
        var ranks = ReadMerges(mergesPath);

        // CLIPTokenizer's own defaults, then tokenizer_config.json, then special_tokens_map.json
        // (from_pretrained applies the map after construction, so it wins).
        string bos = "<|startoftext|>", eos = "<|endoftext|>", pad = "<|endoftext|>", unk = "<|endoftext|>";
        int maxLength = 77;
        var configPath = Path.Combine(tokenizerDir, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            using var cfg = ParseJson(configPath);
            ReadSpecials(cfg.RootElement, configPath, ref bos, ref eos, ref pad, ref unk);
            if (cfg.RootElement.TryGetProperty("model_max_length", out var ml) && ml.ValueKind == JsonValueKind.Number)
            {
                if (!ml.TryGetInt32(out maxLength) || maxLength < 2 || maxLength > 65536)
                    throw new PisaException($"{configPath}: model_max_length = {ml.GetRawText()}: expected an integer from 2 to 65536");
            }
        }
        var mapPath = Path.Combine(tokenizerDir, "special_tokens_map.json");
        if (File.Exists(mapPath))
        {
            using var map = ParseJson(mapPath);
            ReadSpecials(map.RootElement, mapPath, ref bos, ref eos, ref pad, ref unk);
        }
        return new ClipTokenizer(vocab, ranks, bos, eos, pad, unk, maxLength, tokenizerDir);
    }

    /// <summary>Exactly <see cref="MaxLength"/> ids: bos, the prompt's tokens (truncated), eos, pad ids.</summary>
    public int[] Encode(string prompt)
    {
        var ids = TokenIds(prompt);
        var result = new int[MaxLength];
        int n = Math.Min(ids.Count, MaxLength - 2);
        result[0] = BosId;
        for (int i = 0; i < n; i++) result[1 + i] = ids[i];
        result[1 + n] = EosId;
        for (int i = 2 + n; i < MaxLength; i++) result[i] = PadId;
        return result;
    }

    /// <summary>The prompt's token ids without bos/eos, truncation or padding.</summary>
    public List<int> TokenIds(string prompt)
    {
        var ids = new List<int>();
        foreach (var piece in Tokenize(prompt))
            ids.Add(_vocab.TryGetValue(piece, out int id) ? id : UnkId);
        return ids;
    }

    /// <summary>The prompt's token strings (vocab keys such as "cat&lt;/w&gt;", or special tokens).</summary>
    public List<string> Tokenize(string prompt)
    {
        var tokens = new List<string>();
        int start = 0, i = 0;
        while (i < prompt.Length)
        {
            string? special = null;
            foreach (var s in _specials)
                if (string.CompareOrdinal(prompt, i, s, 0, s.Length) == 0) { special = s; break; }
            if (special is null) { i++; continue; }
            TokenizeText(prompt[start..i], tokens);
            tokens.Add(special);
            i += special.Length;
            start = i;
        }
        TokenizeText(prompt[start..], tokens);
        return tokens;
    }

    private void TokenizeText(string text, List<string> tokens)
    {
        if (text.Length == 0) return;
        foreach (var word in ClipPreTokenizer.Split(ClipTextCleaner.Clean(text)))
        {
            // The literal special-token words bypass BPE, as the reference's BPE cache holds them as-is.
            if (word is "<|startoftext|>" or "<|endoftext|>") { tokens.Add(word); continue; }
            tokens.AddRange(_bpe.Encode(ClipBpe.ByteEncode(word)));
        }
    }

    private int SpecialId(string token, string field, string source) =>
        _vocab.TryGetValue(token, out int id) ? id
            : throw new PisaException($"{source}: {field} '{token}' is not in vocab.json");

    private static Dictionary<string, int> ReadVocab(string path)
    {
        using var doc = ParseJson(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new PisaException($"{path}: expected a JSON object of token -> id");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                throw new PisaException($"{path}: token {JsonEncodedText.Encode(p.Name)} has a non-integer id {p.Value.GetRawText()}");
            vocab[p.Name] = id;
        }
        return vocab;
    }

    /// <summary>
    /// merges.txt: a version header line, then "a b" pairs, rank = line order. Like the reference,
    /// only the first 49152 - 256 - 2 merges count (the rest would exceed CLIP's vocabulary).
    /// </summary>
    private static Dictionary<(string, string), int> ReadMerges(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PisaException($"{path}: cannot read ({e.Message})", e);
        }
        var lines = text.Trim().Split('\n');
        const int MaxMerges = 49152 - 256 - 2;
        var ranks = new Dictionary<(string, string), int>();
        for (int i = 1; i < lines.Length && i <= MaxMerges; i++)
        {
            var parts = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2) ranks[(parts[0], parts[1])] = i - 1;  // a malformed line still takes its rank slot
        }
        if (ranks.Count == 0) throw new PisaException($"{path}: no merges found");
        return ranks;
    }

    private static void ReadSpecials(JsonElement root, string path, ref string bos, ref string eos, ref string pad, ref string unk)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new PisaException($"{path}: expected a JSON object");
        bos = TokenText(root, "bos_token", path) ?? bos;
        eos = TokenText(root, "eos_token", path) ?? eos;
        pad = TokenText(root, "pad_token", path) ?? pad;
        unk = TokenText(root, "unk_token", path) ?? unk;
    }

    // A special token is written either as a string or as a serialized AddedToken {"content": ...}.
    private static string? TokenText(JsonElement root, string field, string path)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
            return c.GetString();
        throw new PisaException($"{path}: {field} = {v.GetRawText()}: expected a string or an object with \"content\"");
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            try { JsonStrings.RequireValid(doc.RootElement, why => new PisaException($"{path}: {why}")); }
            catch { doc.Dispose(); throw; }
            return doc;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PisaException($"{path}: cannot read ({e.Message})", e);
        }
        catch (JsonException e)
        {
            throw new PisaException($"{path}: not valid JSON ({e.Message.Split('\n')[0]})", e);
        }
    }
}
