using PiSa.Engine.Imaging;
using PiSa.Engine.Lora;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Descriptions;
using PiSa.Engine.Pipeline.VaeTiling;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Pipeline;

/// <summary>What a run will hold at its peak, by part (bytes). <see cref="Total"/> is what the budget is checked against.</summary>
public sealed record MemoryEstimate(long RuntimeBytes, long WeightBytes, long ActivationBytes, long ImageBytes, string Backend,
    int ModelWidth, int ModelHeight, UpscaleOptions Options)
{
    public long Total => RuntimeBytes + WeightBytes + ActivationBytes + ImageBytes;

    public string Describe() =>
        $"{MemorySize.Format(Total)} ({MemorySize.Format(WeightBytes)} weights, {MemorySize.Format(ActivationBytes)} activations, " +
        $"{MemorySize.Format(ImageBytes)} images, {MemorySize.Format(RuntimeBytes)} runtime) on {Backend} at {ModelWidth}x{ModelHeight}";
}

/// <summary>The facts about a loaded (or about to be loaded) model that its memory depends on.</summary>
public sealed record ModelFootprint(UNetConfig UNet, VaeConfig Vae, ClipTextConfig Text,
    long UNetParams, long VaeParams, long TextParams, long LoraParams,
    long PisaMergedParams, long PixMergedParams, bool UNetBaseReloadable, bool TextReloadable, long FusedProjectionParams = 0,
    bool VaeReloadable = true)
{
    /// <summary>Parameter counts from the configs (the files were checked against them at load) and the checkpoint's
    /// adapters (which weights each merged set replaces).</summary>
    public static ModelFootprint Of(PisaModel m)
    {
        var unetShapes = UNetDescription.Build(m.UNetConfig).ToDictionary(p => p.Name, p => ShapeUtil.Product(p.Shape));
        long Merged(Func<LoraAdapter, bool> which) => m.Lora.Adapters.Where(which).Select(a => a.WeightName).Distinct()
            .Sum(n => unetShapes.TryGetValue(n, out long c) ? c : 0);
        return new ModelFootprint(m.UNetConfig, m.VaeConfig, m.TextConfig,
            unetShapes.Values.Sum(), Count(VaeDescription.Build(m.VaeConfig)), Count(ClipTextDescription.Build(m.TextConfig)),
            m.Lora.Tensors.Values.Sum(t => t.Count),
            Merged(_ => true), Merged(a => a.Kind == LoraKind.Pix), m.UNetBaseReloadable, m.TextWeightsReloadable,
            unetShapes.Where(p => IsFusedProjection(p.Key)).Sum(p => p.Value), m.VaeWeightsReloadable);
    }

    /// <summary>The UNet attention weights MultiHeadAttention copies into its fused QKV (attn1) and KV (attn2)
    /// projections at build time (an upper bound: an only-cross-attention attn1 fuses K and V only).</summary>
    private static bool IsFusedProjection(string name) =>
        name.EndsWith(".weight", StringComparison.Ordinal) &&
        (name.Contains(".attn1.to_q.", StringComparison.Ordinal) || name.Contains(".attn1.to_k.", StringComparison.Ordinal) ||
         name.Contains(".attn1.to_v.", StringComparison.Ordinal) || name.Contains(".attn2.to_k.", StringComparison.Ordinal) ||
         name.Contains(".attn2.to_v.", StringComparison.Ordinal));

    private static long Count(IEnumerable<ParamSpec> specs) => specs.Where(p => !p.IsBuffer).Sum(p => ShapeUtil.Product(p.Shape));
}

/// <summary>
/// The peak memory of one image, computed from the configs, the options and the image size before any work
/// (no tensor is allocated): weights as each backend holds them, activations from the lifetimes the model code
/// gives its tensors, and the host images of pre- and postprocessing. Deliberately an upper bound: each part
/// takes the worst case (no activation array shared between stages, every tile's activation alive at once in
/// the tiled VAE), so a run that passes the check fits; tests compare it with measured peaks.
///
/// CPU (float32): where a model's source can re-read its weights (memory-mapped files, seeded random weights) every
/// weight is held once: the backend packs it and drops the float copy (HostTensor.ReleaseData), a merged LoRA set
/// replaces the base copies of the weights it changes, and the fused QKV/KV projections replace their parts;
/// otherwise (in-memory dictionaries) each GEMM weight is held twice (the source's copy and the packed panels), the
/// merged sets keep the base copies beside them and each UNet set holds its attention weights once more, concatenated.
/// The text encoder is released after the prompt is cached, so it counts only before the UNet is built. CUDA: the
/// host holds one float32 copy of each weight (plus the concatenated attention weights of non-reloadable sources);
/// device memory is not part of this check.
/// </summary>
public static class MemoryEstimator
{
    /// <summary>The .NET runtime, code, GC bookkeeping and small buffers of a pisa process (measured ~120-200 MB).</summary>
    public const long RuntimeBytes = 320L << 20;

    /// <summary>Slack on weights for merge-time copies waiting for the GC (ConserveMemory compacts, but not at once).</summary>
    private const double WeightSlack = 1.10;

    /// <summary>Released float copies, merge inputs and pack temporaries waiting for the next collection (one is
    /// forced every <see cref="ReleasedWeightMemory.CollectEveryBytes"/> released; the temporaries since come on top).</summary>
    public const long WeightGarbageBytes = 2 * ReleasedWeightMemory.CollectEveryBytes;

    /// <param name="host">What the decoded input holds and how many images the run makes (16-bit inputs keep float
    /// planes; a lambda grid keeps every pair's decoded output until its colour fix, and the contact sheet).</param>
    public static MemoryEstimate ForImage(ModelFootprint f, string backend, int width, int height, UpscaleOptions o, HostImages? host = null)
    {
        var sizes = Preprocess.Plan(width, height, o.Upscale, o.ProcessSize);
        return ForModelInput(f, backend, sizes.Width8, sizes.Height8, o,
            ImageBytes(width, height, sizes, host ?? HostImages.Default));
    }

    /// <summary>For a model input of mw x mh pixels (what `pisa bench` runs); imageBytes: the host images around it.</summary>
    public static MemoryEstimate ForModelInput(ModelFootprint f, string backend, int mw, int mh, UpscaleOptions o, long? imageBytes = null)
    {
        bool cpu = backend == "cpu";
        long weights = WeightBytes(f, cpu, o.Mode);
        long act = cpu ? ActivationBytes(f, mw, mh, o) : 0;
        long images = imageBytes ?? 140L * mw * mh;
        return new MemoryEstimate(RuntimeBytes, weights, act, images, backend, mw, mh, o);
    }

    // ---- weights ------------------------------------------------------------------------------------

    public static long WeightBytes(ModelFootprint f, bool cpu, LoraMode mode)
    {
        // On the CPU a weight is packed; its float copy goes where the source can make it again.
        int Copies(bool reloadable) => cpu && !reloadable ? 2 : 1;
        // Merged sets alive at once: default W_pisa; adjustable W_pisa and W_pix; fused its own set, plus the two
        // exact ones for the one-off distance notice.
        long merged = mode switch
        {
            LoraMode.Default => f.PisaMergedParams,
            LoraMode.Adjustable => f.PisaMergedParams + f.PixMergedParams,
            _ => 2 * f.PisaMergedParams + f.PixMergedParams,
        };
        long untouched = f.UNetParams - f.PisaMergedParams;
        long baseKept = f.UNetBaseReloadable ? 0 : f.PisaMergedParams;
        // Every UNet built (one per set above) concatenates its attention weights into the fused QKV/KV projections:
        // a copy beside the source's unless the parts can be made again (then they are released at once).
        int sets = mode switch { LoraMode.Default => 1, LoraMode.Adjustable => 2, _ => 3 };
        long fused = f.UNetBaseReloadable ? 0 : sets * f.FusedProjectionParams;
        long unet = Copies(f.UNetBaseReloadable) * (untouched + merged) + baseKept + fused;
        long vae = Copies(f.VaeReloadable) * f.VaeParams;
        long text = Copies(f.TextReloadable) * f.TextParams;
        // Before the UNet is built only the VAE and the text encoder are there; after, the text encoder is gone if
        // its source can re-read it.
        long textPhase = vae + text;
        long mainPhase = unet + vae + (f.TextReloadable ? 0 : text);
        return (long)(4 * (Math.Max(textPhase, mainPhase) + f.LoraParams) * WeightSlack) + WeightGarbageBytes;
    }

    // ---- activations (CPU, float32) -----------------------------------------------------------------

    /// <summary>Worst case: the three stages' peaks added (the buffer pool may still hold one stage's arrays
    /// while the next runs), bounded by the largest peak plus what the pool may keep.</summary>
    public static long ActivationBytes(ModelFootprint f, int mw, int mh, UpscaleOptions o)
    {
        double enc = EncoderPeak(f.Vae, mw, mh, o.VaeEncoderTile);
        int lw = mw / 8, lh = mh / 8;
        double unet = UNetStagePeak(f.UNet, lw, lh, o);
        double dec = DecoderPeak(f.Vae, lw, lh, o.VaeDecoderTile);
        double sum = enc + unet + dec;
        double bounded = Math.Min(sum, Math.Max(enc, Math.Max(unet, dec)) + Backends.Cpu.CpuBufferPool.Shared.LimitBytes / 4.0);
        return (long)(4 * bounded * ActivationMargin) + SmallArrayBytes;
    }

    /// <summary>Margin over the lifetime model (measured on the tiny model: the pool's peak within 5 % of the model).</summary>
    public const double ActivationMargin = 1.25;

    /// <summary>The text encoder's activations and the arrays too small to matter one by one (statistics, biases).</summary>
    public const long SmallArrayBytes = 64L << 20;

    /// <summary>Floats at the VAE encoder's peak on an h x w image (tiled as VAEHook when above its threshold).
    /// <paramref name="tilesParked"/>: waiting tiles are on the host (the device backends), so only the tile being
    /// processed has its working set here, beside every tile's input crop and finished output.</summary>
    internal static double EncoderPeak(VaeConfig c, int w, int h, int tile, bool tilesParked = false)
    {
        double input = 3.0 * w * h;
        if (!VaeTileSplitter.NeedsTiling(h, w, tile, isDecoder: false)) return input + EncoderWorkingSet(c, (double)w * h);
        var plan = VaeTileSplitter.Split(h, w, tile, isDecoder: false);
        double area = plan.InputBoxes.Sum(b => (double)b.Width * b.Height);
        double maxTile = plan.InputBoxes.Max(b => (double)b.Width * b.Height);
        if (tilesParked) return input + area * (3 + 2.0 * c.LatentChannels / 64) + EncoderWorkingSet(c, maxTile);
        // Every tile keeps its current activation and its pending residual between norm rounds.
        double perPixel = 0;
        for (int i = 0; i < c.BlockOutChannels.Length; i++) perPixel = Math.Max(perPixel, 2.0 * c.BlockOutChannels[i] / (1 << (2 * i)));
        return input + area * (3 + perPixel) + EncoderWorkingSet(c, maxTile);
    }

    private static double EncoderWorkingSet(VaeConfig c, double pixels)
    {
        var ch = c.BlockOutChannels;
        double peak = pixels * (3 + ch[0]);
        int cin = ch[0];
        for (int i = 0; i < ch.Length; i++)
        {
            double p = pixels / (1L << (2 * i));
            for (int j = 0; j < c.LayersPerBlock; j++)
            {
                peak = Math.Max(peak, p * Resnet(cin, ch[i]));
                cin = ch[i];
            }
            if (i < ch.Length - 1) peak = Math.Max(peak, p * 1.25 * ch[i]);
        }
        double last = pixels / (1L << (2 * (ch.Length - 1)));
        return Math.Max(peak, last * Attention(ch[^1]));
    }

    /// <summary>Floats at the VAE decoder's peak for an h x w latent (<paramref name="tilesParked"/> as for the encoder).</summary>
    internal static double DecoderPeak(VaeConfig c, int w, int h, int tile, bool tilesParked = false)
    {
        double latent = c.LatentChannels * 2.0 * w * h;
        if (!VaeTileSplitter.NeedsTiling(h, w, tile, isDecoder: true)) return latent + DecoderWorkingSet(c, (double)w * h);
        var plan = VaeTileSplitter.Split(h, w, tile, isDecoder: true);
        double area = plan.InputBoxes.Sum(b => (double)b.Width * b.Height);
        double maxTile = plan.InputBoxes.Max(b => (double)b.Width * b.Height);
        // Parked: the input crops, the finished tiles (3 channels at 8x) and the assembled image: uploaded (through an
        // fp32 staging copy, twice its fp16 size), then clamped and downloaded the same way.
        if (tilesParked)
            return latent + area * (c.LatentChannels + 64.0 * c.OutChannels) + DecoderWorkingSet(c, maxTile) + 4 * 64.0 * c.OutChannels * w * h;
        var rc = c.BlockOutChannels.Reverse().ToArray();
        double perLatentPixel = 0;
        for (int j = 0; j < rc.Length; j++)
        {
            double scale = 1L << (2 * j);
            int cin = j == 0 ? rc[0] : rc[j - 1];
            perLatentPixel = Math.Max(perLatentPixel, scale * 2.0 * Math.Max(cin, rc[j]));
        }
        // Tiles are pasted into a full-size host image at the end (3 channels at 8x).
        return latent + area * perLatentPixel + DecoderWorkingSet(c, maxTile) + 2 * 3.0 * 64 * w * h;
    }

    private static double DecoderWorkingSet(VaeConfig c, double latentPixels)
    {
        var rc = c.BlockOutChannels.Reverse().ToArray();
        double peak = latentPixels * Attention(rc[0]);
        int cin = rc[0];
        for (int j = 0; j < rc.Length; j++)
        {
            double p = latentPixels * (1L << (2 * j));
            for (int k = 0; k <= c.LayersPerBlock; k++)
            {
                peak = Math.Max(peak, p * Resnet(cin, rc[j]));
                cin = rc[j];
            }
            // Nearest 2x then a conv at 4x the pixels: input + upsampled, then upsampled + conv output.
            if (j < rc.Length - 1) peak = Math.Max(peak, p * rc[j] * 8.0);
        }
        double full = latentPixels * (1L << (2 * (rc.Length - 1)));
        return Math.Max(peak, full * (2.0 * rc[^1] + 2 * c.OutChannels));
    }

    /// <summary>A resnet block's peak in floats per pixel: input and residual, normed input and conv1 output,
    /// then residual, conv2 input, shortcut and output.</summary>
    private static double Resnet(int cin, int cout) => Math.Max(2.0 * cin + cout, cin + 3.0 * cout);

    /// <summary>Single-head self-attention block: input, residual, q, k, v, their packed copies, output.</summary>
    private static double Attention(int ch) => 9.0 * ch;

    /// <summary>Floats at the UNet stage's peak on an h x w latent (latent tiling as the official code).</summary>
    internal static double UNetStagePeak(UNetConfig c, int w, int h, UpscaleOptions o)
    {
        int passes = o.Mode == LoraMode.Default ? 1 : 2;
        double outputs = passes * c.OutChannels * (double)w * h;   // eps (and the two-pass intermediates)
        if (!LatentTiling.IsActive(h, w, o.LatentTile)) return outputs + UNetPeak(c, (double)w * h) + c.InChannels * (double)w * h;
        int t = Math.Min(o.LatentTile, Math.Min(h, w));
        // Blending sums and weights on the host, the downloaded prediction, the latent itself.
        return outputs + 3.0 * c.OutChannels * w * h + UNetPeak(c, (double)t * t) + 2.0 * c.InChannels * t * t;
    }

    /// <summary>Skip connections (every down-block output waits for its up block) plus the largest block's working set.</summary>
    private static double UNetPeak(UNetConfig c, double pixels)
    {
        var ch = c.BlockOutChannels;
        double skips = pixels * ch[0];
        double work = 0;
        for (int i = 0; i < ch.Length; i++)
        {
            double p = pixels / (1L << (2 * i));
            bool attn = c.DownBlockTypes[i].Contains("CrossAttn", StringComparison.Ordinal);
            skips += p * ch[i] * c.LayersPerBlock;
            if (i < ch.Length - 1) skips += p / 4 * ch[i];
            int cin = i == 0 ? ch[0] : ch[i - 1];
            work = Math.Max(work, p * Resnet(cin, ch[i]));
            // Transformer block: residual stream, norm, q/k/v and packed k/v, GEGLU projection (8C) and its output (4C).
            if (attn) work = Math.Max(work, p * 22.0 * ch[i]);
            // Up path at this level: concatenated input (own + skip channels) into a resnet, and the 2x upsampler.
            int up = ch[i] + (i + 1 < ch.Length ? ch[i + 1] : ch[i]);
            work = Math.Max(work, p * (Resnet(up, ch[i]) + up));
            work = Math.Max(work, p * 9.0 * ch[i]);
        }
        return skips + work;
    }

    // ---- host images ---------------------------------------------------------------------------------

    /// <summary>Bytes of the images around the model: the decoded input, its enlarged and upscaled copies (RGB
    /// bytes), the model input and decoded output as float tensors in both layouts, the colour fix's float planes,
    /// and the saved image (at its output size) with its encoder's buffers. A 16-bit input adds its float planes
    /// (and float copies of the enlarged and upscaled images, and a float result); an alpha plane is resized as
    /// floats; each further image of a grid keeps its decoded output and its result, and the sheet holds them all.</summary>
    internal static long ImageBytes(int w0, int h0, Preprocess.SizePlan s, HostImages host)
    {
        double model = (double)s.Width8 * s.Height8;
        double input = (double)w0 * h0, upscaled = (double)s.UpWidth * s.UpHeight;
        double bytes = 3.0 * input + 3.0 * upscaled + 140 * model;
        double output = model;
        if (s.ResizeFlag)
        {
            // The enlarged copy, and the result resized back to upscale x the original (RGB, plus the encoder's rows).
            double up = (double)s.UpWidth / s.EnlargedWidth;
            output = (up * w0) * (up * h0);
            bytes += 3.0 * s.EnlargedWidth * s.EnlargedHeight + 6.0 * output;
            if (host.Deep) bytes += 12.0 * s.EnlargedWidth * s.EnlargedHeight + 12.0 * output;
        }
        if (host.Deep) bytes += 12.0 * input + 12.0 * upscaled + 12.0 * model;
        if (host.Alpha) bytes += 4.0 * input + 4.0 * output;
        int extra = Math.Max(0, host.Outputs - 1);
        if (extra > 0)
            bytes += extra * (12.0 * model + (host.Deep ? 15.0 : 3.0) * output) + 3.0 * host.Outputs * output;
        return (long)Math.Min(bytes, long.MaxValue / 4);
    }
}

/// <summary>What the host side of a run holds besides an 8-bit RGB input and one output (see <see cref="MemoryEstimator.ForImage"/>).</summary>
/// <param name="Deep">16 bits per sample: the float path of the preprocessing and postprocessing.</param>
/// <param name="Alpha">An alpha plane resized beside the colour.</param>
/// <param name="Outputs">Images the run makes: the pairs of a lambda grid (each kept until saved), else 1.</param>
public sealed record HostImages(bool Deep = false, bool Alpha = false, int Outputs = 1)
{
    public static HostImages Default { get; } = new();

    public static HostImages Of(SourceImage image, int outputs = 1) => new(image.Rgb16 != null, image.Alpha != null, outputs);
}

/// <summary>Memory sizes as users write them ("16G", "9.5GiB", "800M", "123456789") and as we print them.</summary>
public static class MemorySize
{
    public static long Parse(string text, string what)
    {
        var s = text.Trim();
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0 || !double.TryParse(s[..i], System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out double v))
            throw new PisaException($"{what}: '{text}' is not a size (examples: 16G, 9.5GiB, 800M, 2000000000)");
        double unit = s[i..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1024,
            "M" or "MB" or "MIB" => 1024.0 * 1024,
            "G" or "GB" or "GIB" => 1024.0 * 1024 * 1024,
            "T" or "TB" or "TIB" => 1024.0 * 1024 * 1024 * 1024,
            _ => throw new PisaException($"{what}: unknown unit in '{text}' (use K, M, G or T: powers of 1024)"),
        };
        double bytes = v * unit;
        if (!(bytes >= 1) || bytes > 1e18) throw new PisaException($"{what}: '{text}' is out of range");
        return (long)bytes;
    }

    public static string Format(long bytes) => bytes >= 1L << 30
        ? $"{bytes / (double)(1L << 30):F2} GiB"
        : $"{bytes / (double)(1L << 20):F0} MiB";
}
