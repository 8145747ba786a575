using PiSa.Engine.Backends;
using PiSa.Engine.Formats;
using PiSa.Engine.Lora;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Clip;
using PiSa.Engine.Models.Descriptions;
using PiSa.Engine.Models.Unet;
using PiSa.Engine.Models.Vae;
using PiSa.Engine.Tensors;
using PiSa.Engine.Text;

namespace PiSa.Engine.Pipeline;

/// <summary>
/// Everything loaded once per run: configs, the tokenizer, base weights (memory-mapped), the LoRA checkpoint,
/// the three models on one backend, and caches that depend only on the weights — prompt embeddings per
/// prompt (the <see cref="PromptCacheSize"/> most recent) and one UNet per weight set (W_pisa, W_pix, fused at
/// given lambdas) in a least-recently-used cache within a byte budget (<see cref="WeightSetCache"/>).
/// Not thread-safe: one caller at a time (PisaUpscaler runs everything on one worker).
/// </summary>
public sealed class PisaModel : IDisposable
{
    public IOps Ops { get; }
    public UNetConfig UNetConfig { get; }
    public VaeConfig VaeConfig { get; }
    public ClipTextConfig TextConfig { get; }
    public ClipTokenizer? Tokenizer { get; }
    public AutoencoderKL Vae { get; }
    public PisaCheckpoint Lora { get; }

    private readonly IWeightSource _unetBase;
    private readonly IWeightSource _textWeights;
    private readonly IWeightSource _vaeWeights;
    /// <summary>Null between prompts: built at load (its checks run there) and dropped after each new prompt.</summary>
    private ClipTextModel? _text;
    private readonly List<IDisposable> _owned = [];
    private readonly Dictionary<string, DeviceTensor> _promptCache = [];
    private readonly List<string> _promptOrder = []; // least recently used first
    private readonly WeightSetCache _unets;

    /// <summary>Default budget for cached weight sets: the two exact sets and a fused one of SD 2.1 on either backend.</summary>
    public const long DefaultWeightSetBudgetBytes = 12L << 30;
    /// <summary>Prompt embeddings kept (each is 77 x 1024 floats for SD 2.1: 308 KB).</summary>
    public const int PromptCacheSize = 32;

    public WeightSetCache WeightSets => _unets;
    /// <summary>Prompts run through the text encoder so far (cache misses); a call that raised it was a cold one.</summary>
    public int PromptEncodes { get; private set; }

    public PisaModel(IOps ops, UNetConfig unetCfg, IWeightSource unetWeights, VaeConfig vaeCfg, IWeightSource vaeWeights,
        ClipTextConfig textCfg, IWeightSource textWeights, ClipTokenizer? tokenizer, PisaCheckpoint lora,
        long weightSetBudgetBytes = DefaultWeightSetBudgetBytes)
    {
        Ops = ops;
        UNetConfig = unetCfg;
        VaeConfig = vaeCfg;
        TextConfig = textCfg;
        Tokenizer = tokenizer;
        Lora = lora;
        // Every tensor the configs imply must be in the files with exactly its shape, before any compute.
        ParamCheck.Verify(UNetDescription.Build(unetCfg), unetWeights, "unet");
        ParamCheck.Verify(VaeDescription.Build(vaeCfg), vaeWeights, "vae");
        ParamCheck.Verify(ClipTextDescription.Build(textCfg), textWeights, "text_encoder");
        lora.ValidateAgainst(unetWeights);
        Vae = new AutoencoderKL(vaeCfg, vaeWeights, ops);
        _unetBase = unetWeights;
        _textWeights = textWeights;
        _vaeWeights = vaeWeights;
        _text = new ClipTextModel(textCfg, textWeights, ops);
        _unets = new WeightSetCache(ops, unetCfg, unetWeights, lora, weightSetBudgetBytes);
    }

    /// <summary>Loads a diffusers-layout SD2.1 folder and a PiSA-SR checkpoint (.pkl or .safetensors).</summary>
    public static PisaModel Load(string modelDir, string loraPath, IOps ops, long weightSetBudgetBytes = DefaultWeightSetBudgetBytes)
    {
        var files = ModelFiles.Locate(modelDir);
        if (!File.Exists(loraPath))
            throw new PisaException($"LoRA checkpoint not found: {loraPath} (see weights/README.md: the official pisa_sr.pkl)");
        var unetCfg = DiffusersConfig.LoadUNet(files.UNetConfig);
        var vaeCfg = DiffusersConfig.LoadVae(files.VaeConfig);
        var textCfg = DiffusersConfig.LoadClipText(files.TextConfig);
        var tokenizer = ClipTokenizer.Load(files.TokenizerDir);
        var unetW = SafetensorsWeightSource.Open(files.UNetWeights);
        var vaeW = SafetensorsWeightSource.Open(files.VaeWeights);
        var textW = SafetensorsWeightSource.Open(files.TextWeights);
        try
        {
            var lora = PisaCheckpoint.Load(loraPath);
            var model = new PisaModel(ops, unetCfg, unetW, vaeCfg, vaeW, textCfg, textW, tokenizer, lora, weightSetBudgetBytes);
            model._owned.AddRange([unetW, vaeW, textW]);
            return model;
        }
        catch
        {
            unetW.Dispose(); vaeW.Dispose(); textW.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Prompt embeddings [1, 77, hidden], computed once per prompt and kept on the backend. The text encoder is
    /// then released (its weights and the backend's packed copies: 2.7 GB at SD 2.1 on the CPU) where its weight
    /// source can read them again, and rebuilt only for a prompt not seen before. A backend with its own copies
    /// (<see cref="IWeightRelease"/>: CudaOps' fp16 device weights, 0.63 GiB at SD 2.1) drops them in any case: a new
    /// prompt uploads them again.
    /// </summary>
    /// <remarks>The returned tensor stays valid until <see cref="PromptCacheSize"/> other prompts have been encoded.</remarks>
    public DeviceTensor PromptEmbeddings(string prompt)
    {
        if (_promptCache.TryGetValue(prompt, out var cached))
        {
            _promptOrder.Remove(prompt);
            _promptOrder.Add(prompt);
            return cached;
        }
        PromptEncodes++;
        var text = _text ?? new ClipTextModel(TextConfig, _textWeights, Ops);
        var ids = Tokenizer?.Encode(prompt) ?? EmptyPromptIds(prompt);
        DeviceTensor emb;
        if (Ops is IWeightRelease release)
        {
            var used = new List<HostTensor>();
            using (release.TrackWeights(used)) emb = text.Encode(ids);
            TextDeviceBytesReleased += release.ReleaseWeights(used);
        }
        else emb = text.Encode(ids);
        if (_promptOrder.Count >= PromptCacheSize)
        {
            _promptCache.Remove(_promptOrder[0], out var old);
            _promptOrder.RemoveAt(0);
            old?.Dispose();
        }
        _promptCache[prompt] = emb;
        _promptOrder.Add(prompt);
        if (_textWeights is IReloadableWeightSource reloadable)
        {
            _text = null;
            foreach (var name in _textWeights.Names) reloadable.Evict(name);
            // Its float and packed copies (2.7 GB at SD 2.1 on the CPU, now unreachable) are freed here, before the
            // UNet's weights are made, not at some later peak.
            GC.Collect();
        }
        else _text = text;
        return emb;
    }

    /// <summary>Whether merged LoRA sets can drop the base copies they replace (the base source re-reads them).</summary>
    public bool UNetBaseReloadable => _unetBase is IReloadableWeightSource;

    /// <summary>Whether the VAE's float weights can be released once the backend has packed them.</summary>
    public bool VaeWeightsReloadable => _vaeWeights is IReloadableWeightSource;

    /// <summary>Whether the text encoder's weights are released after a prompt is cached.</summary>
    public bool TextWeightsReloadable => _textWeights is IReloadableWeightSource;

    /// <summary>Bytes of backend weight copies (device weights on CUDA) released after prompts were encoded, in total.</summary>
    public long TextDeviceBytesReleased { get; private set; }

    /// <summary>Whether the text encoder's weights are held now (false once a prompt is cached and they could be released).</summary>
    public bool TextEncoderLoaded => _text != null;

    /// <summary>
    /// Without a tokenizer (random-weight models) only the empty prompt can be encoded: CLIP's ids for it are
    /// BOS, EOS, then padding, where BOS/EOS are the last two vocabulary ids (49406/49407 in SD 2.1) and the pad
    /// id is 0 ("!", SD 2.1's pad token).
    /// </summary>
    private int[] EmptyPromptIds(string prompt)
    {
        if (prompt.Length != 0) throw new PisaException("this model has no tokenizer: only the empty prompt can be encoded");
        var ids = new int[TextConfig.MaxPositionEmbeddings];
        ids[0] = TextConfig.VocabSize - 2;
        ids[1] = TextConfig.VocabSize - 1;
        return ids;
    }

    /// <summary>The UNet on the weight set a mode needs: "pisa" (both adapters merged), "pix" (pixel adapter only),
    /// or the fused set at (lambdaPix, lambdaSem). Merged tensors are computed once per set; tensors without LoRA
    /// are the base objects, shared by all sets (and by the backend's weight cache).</summary>
    public UNet2DConditionModel UNet(string set, float lambdaPix = 1, float lambdaSem = 1) => _unets.Get(set, lambdaPix, lambdaSem);

    /// <summary>One image's run begins: the weight sets it uses stay cached until it ends; with
    /// <paramref name="sets"/> (<see cref="WeightSetCache.KeyOf"/>) the device keeps only those (see
    /// <see cref="WeightSetCache.BeginRun"/>).</summary>
    public void BeginRun(IReadOnlyCollection<string>? sets = null) => _unets.BeginRun(sets);

    public void Dispose()
    {
        _unets.Clear();   // disposes every cached UNet (its cross-attention K/V) and releases its merged weights
        foreach (var t in _promptCache.Values) t.Dispose();
        _promptCache.Clear();
        _promptOrder.Clear();
        foreach (var d in _owned) d.Dispose();
        _owned.Clear();
    }
}
