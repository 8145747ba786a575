using PiSa.Engine.Backends;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline.VaeTiling;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Pipeline;

/// <summary>What one image produced: the saved image and, when asked for, the intermediates.</summary>
public sealed class UpscaleResult
{
    public required RgbImage Output { get; init; }
    /// <summary>input_image, prompt_embeds, lq_latent, unet_pred, hq_latent, decoded (NCHW float32) and final
    /// (HWC float32), named as in the golden fixtures; null unless intermediates were requested.</summary>
    public Dictionary<string, HostTensor>? Tensors { get; init; }
}

/// <summary>
/// One image end to end, SPEC section 3: preprocess (PIL-exact resizes), prompt embedding (cached), VAE encode
/// (posterior mean; VAEHook tiling above its threshold), UNet at t = 1 in the chosen LoRA mode (latent tiling
/// above its threshold), z_H = z_L - eps, decode, clamp, truncating 8-bit conversion, colour fix, resize back.
/// Knows nothing of the backend: everything heavy goes through <see cref="IOps"/>.
/// </summary>
public sealed partial class UpscalePipeline(PisaModel model)
{
    public const float Timestep = 1f;
    public StageTimer Timer { get; } = new();
    /// <summary>Lines the caller should show the user (e.g. the fused mode's distance to the exact mode).</summary>
    public List<string> Notices { get; } = [];
    private bool _fusedDistanceReported;

    /// <summary>The weight sets (<see cref="WeightSetCache.KeyOf"/>) a run in these options uses: the fused mode's first
    /// run also runs the exact pair for its distance notice.</summary>
    private string[] WeightSetsOf(UpscaleOptions o) => o.Mode switch
    {
        LoraMode.Default => ["pisa"],
        LoraMode.Adjustable => ["pisa", "pix"],
        _ when _fusedDistanceReported => [WeightSetCache.KeyOf("fused", o.LambdaPix, o.LambdaSem)],
        _ => [WeightSetCache.KeyOf("fused", o.LambdaPix, o.LambdaSem), "pisa", "pix"],
    };

    private (int W, int H) _lastSize;

    public UpscaleResult Run(RgbImage input, UpscaleOptions o, bool keepTensors = false, RunHooks? hooks = null)
    {
        o.Validate();
        hooks ??= RunHooks.None;
        model.BeginRun(WeightSetsOf(o));
        var tensors = keepTensors ? new Dictionary<string, HostTensor>() : null;

        hooks.StageStarted("preprocess");
        var pre = Timer.Time("preprocess", () => Preprocess.Run(input, o.Upscale, o.ProcessSize));
        ReleaseCachesOnNewSize(pre.ModelInput);
        tensors?.Add("input_image", pre.ModelInput);
        var decoded = LatentPath(pre.ModelInput, o, tensors, hooks);
        hooks.StageStarted("postprocess");
        var post = Timer.Time("postprocess", () => Postprocess.Run(decoded, pre, o.ColorFix));
        if (tensors != null)
            tensors["final"] = new HostTensor([post.PreColorFix.Height, post.PreColorFix.Width, 3], post.ColorFixed.FinalHwc);
        var output = post.Output;
        return new UpscaleResult { Output = output, Tensors = tensors };
    }

    /// <summary>
    /// SPEC section 3 steps 6-10 on a preprocessed model input x [1, 3, H, W] in [-1, 1]: prompt embedding (cached),
    /// VAE encode, UNet, z_H = z_L - eps, VAE decode and clamp; returns the decoded image [1, 3, H, W] on the host.
    /// Each stage is timed in <see cref="Timer"/> ("text encoder", "vae encode", "unet", "vae decode") up to the
    /// check of its output for NaN/inf (<see cref="NonFiniteCheck"/>), which waits for the backend; a non-finite
    /// output throws <see cref="NonFiniteResultException"/> naming the stage. This is what `pisa bench` measures.
    /// </summary>
    public HostTensor RunLatentPath(HostTensor modelInput, UpscaleOptions o, RunHooks? hooks = null)
    {
        o.Validate();
        model.BeginRun(WeightSetsOf(o));
        ReleaseCachesOnNewSize(modelInput);
        return LatentPath(modelInput, o, null, hooks ?? RunHooks.None);
    }

    private HostTensor LatentPath(HostTensor modelInput, UpscaleOptions o, Dictionary<string, HostTensor>? tensors, RunHooks hooks)
    {
        var ops = model.Ops;

        // Each stage's output is checked for NaN/inf before the next stage uses it (NonFiniteCheck): the count
        // waits for the stage's work, so it also ends the stage for the timer.
        hooks.StageStarted("text encoder");
        var prompt = Stage("text encoder", () =>
        {
            var p = model.PromptEmbeddings(o.Prompt);   // cached and owned by the model: not disposed here
            NonFiniteCheck.Require(ops, p, "text encoder", o);
            return p;
        });
        if (tensors != null) tensors["prompt_embeds"] = ops.Download(prompt);

        hooks.StageStarted("vae encode");
        using var lq = EncodeLatent(modelInput, o, hooks);
        if (tensors != null) tensors["lq_latent"] = Layout.NhwcToNchw(ops.Download(lq));

        hooks.StageStarted("unet");
        using var eps = Stage("unet", () => NonFiniteCheck.Checked(ops, PredictNoise(lq, prompt, o, hooks), "unet", o));
        if (tensors != null) tensors["unet_pred"] = Layout.NhwcToNchw(ops.Download(eps));

        using var hq = ops.Axpby(lq, eps, 1, -1);
        if (tensors != null) tensors["hq_latent"] = Layout.NhwcToNchw(ops.Download(hq));

        hooks.StageStarted("vae decode");
        var decoded = DecodeLatent(hq, o, hooks);
        if (tensors != null) tensors["decoded"] = decoded;
        return decoded;
    }

    /// <summary>A timed stage, also a named range on the backend (NVTX, the profile's grouping). Its end lets the
    /// backend give back what only this stage used (IOps.EndStage), so stage peaks do not add up on the device.</summary>
    private T Stage<T>(string name, Func<T> body) => Timer.Time(name, () =>
    {
        T result;
        using (model.Ops.Range(name)) result = body();
        model.Ops.EndStage();
        return result;
    });

    /// <summary>Step 7, timed as "vae encode": z_L = posterior mean * scaling factor, NHWC on the backend.</summary>
    private DeviceTensor EncodeLatent(HostTensor modelInput, UpscaleOptions o, RunHooks hooks) => Stage("vae encode", () =>
    {
        var ops = model.Ops;
        using var x = ops.Upload(Layout.NchwToNhwc(modelInput));
        using var mean = TiledVae.EncodeMean(model.Vae, x, o.VaeEncoderTile, ParkTiles(o), hooks, "vae encode");
        // The non-finite count waits for the stage's work, so it also ends the stage for the timer.
        return NonFiniteCheck.Checked(ops, ops.ScaleShift(mean, model.VaeConfig.ScalingFactor, 0), "vae encode", o);
    });

    /// <summary>Step 10, timed as "vae decode": decode z_H / scaling factor, clamp to [-1, 1], NCHW on the host.</summary>
    private HostTensor DecodeLatent(DeviceTensor hq, UpscaleOptions o, RunHooks hooks) => Stage("vae decode", () =>
    {
        var ops = model.Ops;
        using var z = ops.ScaleShift(hq, 1f / model.VaeConfig.ScalingFactor, 0);
        using var d = TiledVae.Decode(model.Vae, z, o.VaeDecoderTile, ParkTiles(o), hooks, "vae decode");
        NonFiniteCheck.Require(ops, d, "vae decode", o);   // before the clamp, which would hide a NaN
        using var c = ops.Clamp(d, -1, 1);
        return Layout.NhwcToNchw(ops.Download(c));
    });

    /// <summary>Whether the tiled VAE parks waiting tiles on the host (only where that lowers a device's peak).</summary>
    private bool ParkTiles(UpscaleOptions o) => o.ParkVaeTiles && model.Ops.HasDeviceMemory;

    /// <summary>Activations kept for reuse fit one image size: drop them when the size changes (batches of mixed sizes).</summary>
    private void ReleaseCachesOnNewSize(HostTensor modelInput)
    {
        var size = (modelInput.Dim(-1), modelInput.Dim(-2));
        if (size != _lastSize && _lastSize != default) model.Ops.ReleaseCachedMemory();
        _lastSize = size;
    }

    /// <summary>eps for the whole latent, tiled as the official code does above latent_tiled_size^2 pixels.</summary>
    private DeviceTensor PredictNoise(DeviceTensor lq, DeviceTensor prompt, UpscaleOptions o, RunHooks hooks)
    {
        int h = lq.Dim(1), w = lq.Dim(2);
        if (!LatentTiling.IsActive(h, w, o.LatentTile)) return PredictTile(lq, prompt, o, hooks.Token);
        return LatentTiling.Predict(model.Ops, lq, o.LatentTile, o.LatentOverlap, tile => PredictTile(tile, prompt, o, hooks.Token),
            (done, total) => hooks.TileDone("unet", done, total));
    }

    /// <summary>One UNet evaluation in the chosen LoRA mode.</summary>
    private DeviceTensor PredictTile(DeviceTensor z, DeviceTensor prompt, UpscaleOptions o, CancellationToken ct)
    {
        var ops = model.Ops;
        switch (o.Mode)
        {
            case LoraMode.Default:
                return Unet(model.UNet("pisa"), z, prompt, ct);
            case LoraMode.Adjustable:
                return Exact(z, prompt, o.LambdaPix, o.LambdaSem, ct);
            case LoraMode.Fused:
                var fused = Unet(model.UNet("fused", o.LambdaPix, o.LambdaSem), z, prompt, ct);
                if (!_fusedDistanceReported)
                {
                    // The fused mode is a different function off (1, 1): say how far it is, once, on this input.
                    _fusedDistanceReported = true;
                    DeviceTensor exact;
                    try { exact = Exact(z, prompt, o.LambdaPix, o.LambdaSem, ct); }
                    catch { fused.Dispose(); throw; }
                    double d;
                    using (exact) d = TensorMetrics.RelativeL2(ops.Download(fused).Data, ops.Download(exact).Data);
                    if (double.IsFinite(d))   // else the unet stage's non-finite check fails the run
                        Notices.Add($"fused mode at (lambda_pix {o.LambdaPix}, lambda_sem {o.LambdaSem}): relative L2 distance of the UNet prediction to the exact adjustable mode = {d:G3} (first tile of the first image)");
                }
                return fused;
            default:
                throw new ArgumentOutOfRangeException(nameof(o));
        }
    }

    /// <summary>One UNet pass, replayable per (UNet, prompt) and latent shape: the backend may record it as a CUDA
    /// graph (the weights and the prompt's cached K/V are fixed for that key).
    /// A cancelled pass throws out of the recording, which the backend abandons.</summary>
    private DeviceTensor Unet(Models.Unet.UNet2DConditionModel unet, DeviceTensor z, DeviceTensor prompt, CancellationToken ct) =>
        model.Ops.Replayable((unet, prompt), z, t => unet.Forward(t, Timestep, prompt, ct));

    /// <summary>The official adjustable mode: lambda_pix * eps(W_pix) + lambda_sem * (eps(W_pisa) - eps(W_pix)).</summary>
    private DeviceTensor Exact(DeviceTensor z, DeviceTensor prompt, float lambdaPix, float lambdaSem, CancellationToken ct)
    {
        var (pisa, pix) = ExactPasses(z, prompt, ct);
        using (pisa)
        using (pix)
            return CombineExact(pisa, pix, lambdaPix, lambdaSem);
    }

    /// <summary>The adjustable mode's two UNet passes: eps(W_pisa) and eps(W_pix) (the caller disposes both).</summary>
    private (DeviceTensor Pisa, DeviceTensor Pix) ExactPasses(DeviceTensor z, DeviceTensor prompt, CancellationToken ct)
    {
        var pisa = Unet(model.UNet("pisa"), z, prompt, ct);
        try
        {
            var pix = Unet(model.UNet("pix"), z, prompt, ct);
            return (pisa, pix);
        }
        catch
        {
            pisa.Dispose();   // cancelled between the passes
            throw;
        }
    }

    /// <summary>lambda_pix * eps_pix + lambda_sem * (eps_pisa - eps_pix), in this one order of float operations
    /// (so a grid's combination of kept passes equals a separate run bit for bit).</summary>
    private DeviceTensor CombineExact(DeviceTensor pisa, DeviceTensor pix, float lambdaPix, float lambdaSem)
    {
        var ops = model.Ops;
        using var semOnly = ops.Axpby(pisa, pix, 1, -1);
        return ops.Axpby(pix, semOnly, lambdaPix, lambdaSem);
    }
}
