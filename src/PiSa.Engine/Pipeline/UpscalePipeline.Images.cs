using PiSa.Engine.Backends;
using PiSa.Engine.Imaging;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Pipeline;

/// <summary>One output of <see cref="UpscalePipeline.RunSource"/>: the image for one (lambda_pix, lambda_sem) pair.</summary>
public sealed class ImageResult
{
    public required OutputImage Output { get; init; }
    public required float LambdaPix { get; init; }
    public required float LambdaSem { get; init; }
    /// <summary>The intermediates (as <see cref="UpscaleResult.Tensors"/>), single-pair runs only.</summary>
    public Dictionary<string, HostTensor>? Tensors { get; init; }
}

/// <summary>
/// Images as files hold them (alpha, grey, 16-bit, metadata) and the fidelity/detail grid. The colour always
/// goes through the same SPEC section 3 path as <see cref="Run"/> (8-bit inputs give exactly its result); a
/// 16-bit input takes the float preprocessing and postprocessing instead; alpha is resized to the output size
/// with the bicubic filter of the RGB path and rejoined; grey is written back as grey unless asked otherwise.
/// </summary>
public sealed partial class UpscalePipeline
{
    /// <summary>Wall time of the last <see cref="RunSource"/>'s SPEC steps 6-10 (text encoder to VAE decode, every
    /// pair of a grid, the small ops between the stages included): what `pisa bench` calls end to end.</summary>
    public double LastLatentMilliseconds { get; private set; }

    /// <param name="grid">Adjustable mode only: the (lambda_pix, lambda_sem) pairs to produce. The VAE encoder and
    /// the two UNet passes run once; each pair costs only the combination, the VAE decode and the colour fix.</param>
    public List<ImageResult> RunSource(SourceImage input, UpscaleOptions o, IReadOnlyList<(float Pix, float Sem)>? grid = null,
        bool keepTensors = false, bool keepRgb = false, RunHooks? hooks = null)
    {
        o.Validate();
        hooks ??= RunHooks.None;
        if (grid != null && o.Mode != LoraMode.Adjustable)
            throw new PisaException("a lambda grid needs the adjustable mode");
        if (grid is { Count: 0 }) throw new ArgumentException("empty lambda grid");
        model.BeginRun(WeightSetsOf(o));
        bool deep = input.Rgb16 != null;
        hooks.StageStarted("preprocess");
        var pre = Timer.Time("preprocess", () => deep
            ? Preprocess.RunFloat(input.Rgb16!, o.Upscale, o.ProcessSize)
            : Preprocess.Run(input.Rgb, o.Upscale, o.ProcessSize));
        ReleaseCachesOnNewSize(pre.ModelInput);

        var decoded = new List<(float Pix, float Sem, HostTensor Image, Dictionary<string, HostTensor>? Tensors)>();
        long latentStart = System.Diagnostics.Stopwatch.GetTimestamp();
        if (grid == null)
        {
            var tensors = keepTensors ? new Dictionary<string, HostTensor> { ["input_image"] = pre.ModelInput } : null;
            decoded.Add((o.LambdaPix, o.LambdaSem, LatentPath(pre.ModelInput, o, tensors, hooks), tensors));
        }
        else
        {
            foreach (var (pix, sem, image) in LatentGrid(pre.ModelInput, o, grid, hooks)) decoded.Add((pix, sem, image, null));
        }
        LastLatentMilliseconds = System.Diagnostics.Stopwatch.GetElapsedTime(latentStart).TotalMilliseconds;

        PlaneImage? alpha = input.Alpha == null ? null
            : Timer.Time("alpha", () => PilResizeFloat.Resize(input.Alpha, pre.OutputWidth, pre.OutputHeight, ResampleFilter.Bicubic));
        hooks.StageStarted("postprocess");
        var results = new List<ImageResult>();
        foreach (var (pix, sem, image, tensors) in decoded)
        {
            var output = Timer.Time("postprocess", () =>
            {
                if (deep)
                {
                    var full = PostprocessFloat.Run(image, pre, o.ColorFix);
                    return new OutputImage { Rgb = Preprocess.QuantizeRounding(full), Rgb16 = full, Alpha = alpha, Grey = input.IsGrey && !keepRgb, Metadata = input.Metadata };
                }
                var post = Postprocess.Run(image, pre, o.ColorFix);
                if (tensors != null)
                    tensors["final"] = new HostTensor([post.PreColorFix.Height, post.PreColorFix.Width, 3], post.ColorFixed.FinalHwc);
                return new OutputImage { Rgb = post.Output, Alpha = alpha, Grey = input.IsGrey && !keepRgb, Metadata = input.Metadata };
            });
            results.Add(new ImageResult { Output = output, LambdaPix = pix, LambdaSem = sem, Tensors = tensors });
        }
        return results;
    }

    /// <summary>
    /// SPEC steps 6-10 for every pair of a grid, sharing what does not depend on the lambdas. The adjustable result
    /// is linear in them, z_H = z_L - (lambda_pix eps_pix + lambda_sem (eps_pisa - eps_pix)), and the latent tiles
    /// blend linearly too; but rather than blending once and recombining (equal only up to float rounding), the
    /// two passes of every tile are kept and each pair runs the very combination and blend a separate run does,
    /// so every image equals a separate run at its pair exactly.
    /// </summary>
    public List<(float Pix, float Sem, HostTensor Decoded)> LatentGrid(HostTensor modelInput, UpscaleOptions o, IReadOnlyList<(float Pix, float Sem)> grid,
        RunHooks? hooks = null)
    {
        hooks ??= RunHooks.None;
        ReleaseCachesOnNewSize(modelInput);   // a no-op when RunSource already did it for this size
        var ops = model.Ops;
        hooks.StageStarted("text encoder");
        var prompt = Timer.Time("text encoder", () =>
        {
            var p = model.PromptEmbeddings(o.Prompt);   // cached and owned by the model: not disposed here
            NonFiniteCheck.Require(ops, p, "text encoder", o);
            return p;
        });
        hooks.StageStarted("vae encode");
        using var lq = EncodeLatent(modelInput, o, hooks);
        int h = lq.Dim(1), w = lq.Dim(2);
        bool tiled = LatentTiling.IsActive(h, w, o.LatentTile);
        var passes = new List<(DeviceTensor Pisa, DeviceTensor Pix)>();
        try
        {
            var results = new List<(float, float, HostTensor)>();
            for (int k = 0; k < grid.Count; k++)
            {
                var (lp, ls) = grid[k];
                int tile = 0;
                DeviceTensor Predict(DeviceTensor z)
                {
                    // The first pair runs the passes (timed as "unet") and keeps them; the others reuse them in the same tile order.
                    if (k == 0) passes.Add(ExactPasses(z, prompt, hooks.Token));
                    var (pisa, pix) = passes[tile++];
                    return CombineExact(pisa, pix, lp, ls);
                }
                // Progress and cancellation per tile of the first pair (the one running the UNet), then per pair.
                if (k == 0) hooks.StageStarted("unet");
                else hooks.ThrowIfCancelled();
                using var eps = Timer.Time(k == 0 ? "unet" : "combine", () =>
                {
                    var r = tiled ? LatentTiling.Predict(ops, lq, o.LatentTile, o.LatentOverlap, Predict,
                        k == 0 ? (done, total) => hooks.TileDone("unet", done, total) : null) : Predict(lq);
                    return NonFiniteCheck.Checked(ops, r, "unet", o with { LambdaPix = lp, LambdaSem = ls });
                });
                using var hq = ops.Axpby(lq, eps, 1, -1);
                hooks.StageStarted("vae decode");
                results.Add((lp, ls, DecodeLatent(hq, o, hooks)));
            }
            return results;
        }
        finally
        {
            foreach (var (pisa, pix) in passes) { pisa.Dispose(); pix.Dispose(); }
        }
    }
}
