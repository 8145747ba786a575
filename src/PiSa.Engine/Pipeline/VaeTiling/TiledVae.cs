using PiSa.Engine.Backends;
using PiSa.Engine.Models.Vae;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Pipeline.VaeTiling;

/// <summary>
/// PiSA-SR's VAE tiling (VAEHook, src/my_utils/vaehook.py), as PiSASR_eval._init_tiled_vae installs it:
/// the hook replaces the forward of vae.encoder (tile 1024 input px by default) and vae.decoder (tile 224
/// latent px); quant_conv / post_quant_conv stay outside and run on the whole tensor.
///
/// What the official call does, and so what this does:
/// - fast_encoder = fast_decoder = False, color_fix = False (the _init_tiled_vae defaults PiSA-SR keeps):
///   no downsampled GroupNorm estimation pass; every GroupNorm is pooled over the real tiles.
/// - Below the threshold (max(H, W) &lt;= tile + 2*pad) the plain module forward runs.
/// - Otherwise the input is cut into padded tiles (<see cref="VaeTileSplitter"/>); every tile runs the
///   module's layer list up to the next GroupNorm, then each (batch, group)'s statistics are pooled:
///   mean = sum_t p_t mean_t and var = sum_t p_t var_t with p_t = pixels_t / sum pixels, the pixel count of
///   the padded tile at that layer, var the biased per-tile variance (GroupNormParam.summary: a weighted mean
///   of per-tile variances, NOT the variance of the union, and overlapping pixels count once per tile);
///   the norm is applied with eps 1e-6 and, in VAEHook, always 32 groups. Everything else (convs, the mid
///   block's attention!) is local to the tile: attention only sees the tile's own positions.
/// - Each finished tile's valid region (crop_valid_region) is pasted into its output box.
/// The task queue's back-and-forth tile order and GPU/CPU shuffling change nothing numerically, except the
/// order in which per-tile statistics are summed.
/// </summary>
public static class TiledVae
{
    /// <summary>PiSA-SR's defaults (test_pisasr.py --vae_encoder_tiled_size / --vae_decoder_tiled_size).</summary>
    public const int DefaultEncoderTileSize = 1024;
    public const int DefaultDecoderTileSize = 224;

    /// <summary>vae.encode(x).latent_dist.mean with the hooked encoder: [N, H, W, in] -> [N, H/8, W/8, latent], unscaled.</summary>
    public static DeviceTensor EncodeMean(AutoencoderKL vae, DeviceTensor x, int tileSize, bool parkTilesOnHost = false,
        RunHooks? hooks = null, string stage = "vae encode")
    {
        using var h = RunEncoder(vae, x, tileSize, parkTilesOnHost, hooks, stage);
        return vae.MeanFromEncoderOutput(h);
    }

    /// <summary>vae.decode(z).sample with the hooked decoder: unscaled latent -> image, not clamped.</summary>
    public static DeviceTensor Decode(AutoencoderKL vae, DeviceTensor z, int tileSize, bool parkTilesOnHost = false,
        RunHooks? hooks = null, string stage = "vae decode")
    {
        using var p = vae.PostQuantConv(z);
        return RunDecoder(vae, p, tileSize, parkTilesOnHost, hooks, stage);
    }

    /// <summary>The hooked encoder module: plain forward for small inputs, VAEHook tiling otherwise.
    /// The plain forward is replayable per (VAE, input shape): the backend may record it as a CUDA graph (its weights
    /// are fixed). The tiled path is not: its pooled GroupNorm statistics meet on the host between rounds.</summary>
    public static DeviceTensor RunEncoder(AutoencoderKL vae, DeviceTensor x, int tileSize, bool parkTilesOnHost = false,
        RunHooks? hooks = null, string stage = "vae encode")
    {
        var ct = hooks?.Token ?? default;
        if (!VaeTileSplitter.NeedsTiling(x.Dim(1), x.Dim(2), tileSize, isDecoder: false))
            return vae.Ops.Replayable((vae, "encoder"), x, t => vae.RunEncoder(t, ct));
        var plan = VaeTileSplitter.Split(x.Dim(1), x.Dim(2), tileSize, isDecoder: false, vae.ScaleFactor);
        return RunTiled(vae.Ops, vae.EncoderHookSteps, x, plan, parkTilesOnHost, hooks, stage);
    }

    /// <summary>The hooked decoder module (input already through post_quant_conv); replayable as the encoder.</summary>
    public static DeviceTensor RunDecoder(AutoencoderKL vae, DeviceTensor z, int tileSize, bool parkTilesOnHost = false,
        RunHooks? hooks = null, string stage = "vae decode")
    {
        var ct = hooks?.Token ?? default;
        if (!VaeTileSplitter.NeedsTiling(z.Dim(1), z.Dim(2), tileSize, isDecoder: true))
            return vae.Ops.Replayable((vae, "decoder"), z, t => vae.RunDecoder(t, ct));
        var plan = VaeTileSplitter.Split(z.Dim(1), z.Dim(2), tileSize, isDecoder: true, vae.ScaleFactor);
        return RunTiled(vae.Ops, vae.DecoderHookSteps, z, plan, parkTilesOnHost, hooks, stage);
    }

    /// <summary>Runs a step line over the tiles of <paramref name="plan"/> with pooled GroupNorm statistics
    /// and assembles the output on the host. With <paramref name="parkTilesOnHost"/> tiles wait in host
    /// memory between norm rounds (VAEHook's tile.cpu()), so only one tile is on the device at a time.
    /// <paramref name="hooks"/> hears of each tile of each norm round (as tile t of T of <paramref name="stage"/>)
    /// and its token is checked between steps; a cancelled run disposes every tile it holds.</summary>
    public static DeviceTensor RunTiled(IOps ops, IReadOnlyList<VaeStep> steps, DeviceTensor x, VaeTilePlan plan, bool parkTilesOnHost = false,
        RunHooks? hooks = null, string stage = "vae")
    {
        var ct = hooks?.Token ?? default;
        if (x.Rank != 4 || x.Dim(1) != plan.Height || x.Dim(2) != plan.Width)
            throw new PisaException($"VAE tiling: input [{ShapeUtil.Format(x.Shape)}] does not match a {plan.Height}x{plan.Width} tile plan");
        int n = x.Dim(0);
        var cursors = new VaeStepCursor[plan.TileCount];
        try
        {
            for (int t = 0; t < cursors.Length; t++)
            {
                var b = plan.InputBoxes[t];
                cursors[t] = new VaeStepCursor(ops, steps, ops.CropSpatial(x, b.Y0, b.Y1, b.X0, b.X1), ownsInput: true, ct);
            }

            // One round per GroupNorm: every tile applies the previous round's pooled norm, runs on to the
            // next GroupNorm and reports its statistics (VAEHook's task-queue loop).
            float[]? pooled = null;
            while (true)
            {
                VaeNormStep? norm = null;
                var stats = new float[cursors.Length][];
                var pixels = new long[cursors.Length];
                for (int t = 0; t < cursors.Length; t++)
                {
                    var c = cursors[t];
                    c.Unpark();
                    if (pooled != null) c.ApplyNorm(pooled);
                    var next = c.RunUntilNorm();
                    if (t == 0) norm = next;
                    else if (!ReferenceEquals(next, norm)) throw new InvalidOperationException("VAE tiling: tiles disagree on the next GroupNorm");
                    if (next != null)
                    {
                        stats[t] = ops.GroupNormStats(c.Current, next.Groups);
                        pixels[t] = (long)c.Current.Dim(1) * c.Current.Dim(2);
                        if (parkTilesOnHost) c.Park();
                    }
                    hooks?.TileDone(stage, t + 1, cursors.Length);
                }
                if (norm == null) break;
                pooled = PoolStatistics(stats, pixels, n * norm.Groups);
            }

            return Assemble(ops, cursors, plan, n);
        }
        finally
        {
            foreach (var c in cursors) c?.Dispose();
        }
    }

    /// <summary>GroupNormParam.summary: per-(batch, group) mean and variance averaged over tiles, weighted by
    /// each padded tile's pixel count (float32 weights pixels/max, normalised by their sum, as the official).</summary>
    public static float[] PoolStatistics(float[][] perTile, long[] pixels, int pairs)
    {
        long max = pixels.Max();
        var w = new float[pixels.Length];
        float sum = 0;
        for (int t = 0; t < w.Length; t++) { w[t] = (float)pixels[t] / max; sum += w[t]; }
        for (int t = 0; t < w.Length; t++) w[t] /= sum;

        var pooled = new float[pairs * 2];
        for (int p = 0; p < pairs; p++)
        {
            double mean = 0, var = 0;
            for (int t = 0; t < perTile.Length; t++)
            {
                if (perTile[t].Length != pairs * 2) throw new InvalidOperationException("VAE tiling: statistics of tiles differ in size");
                mean += (double)perTile[t][2 * p] * w[t];
                var += (double)perTile[t][2 * p + 1] * w[t];
            }
            pooled[2 * p] = (float)mean;
            pooled[2 * p + 1] = (float)var;
        }
        return pooled;
    }

    /// <summary>Crops each finished tile to its valid region and pastes it into the NHWC output on the host.</summary>
    private static DeviceTensor Assemble(IOps ops, VaeStepCursor[] cursors, VaeTilePlan plan, int n)
    {
        int outH = plan.OutputHeight, outW = plan.OutputWidth;
        HostTensor? result = null;
        for (int t = 0; t < cursors.Length; t++)
        {
            using var tile = cursors[t].TakeResult();
            int th = tile.Dim(1), tw = tile.Dim(2), c = tile.Dim(3);
            result ??= new HostTensor(n, outH, outW, c);
            var ob = plan.OutputBoxes[t];
            var v = VaeTileSplitter.ValidRegion(plan.InputBoxes[t], ob, th, tw, plan.IsDecoder, plan.Scale);
            if (v.Height != ob.Height || v.Width != ob.Width || v.X0 < 0 || v.Y0 < 0 || v.X1 > tw || v.Y1 > th)
                throw new InvalidOperationException($"VAE tiling: tile {t} valid region {v} of a {th}x{tw} output does not fit output box {ob}");
            using var crop = ops.CropSpatial(tile, v.Y0, v.Y1, v.X0, v.X1);
            var h = ops.Download(crop);
            Paste(h, result, ob);
        }
        return ops.Upload(result!);
    }

    private static void Paste(HostTensor src, HostTensor dst, TileBox box)
    {
        int n = dst.Dim(0), dh = dst.Dim(1), dw = dst.Dim(2), c = dst.Dim(3);
        int rowLen = box.Width * c;
        for (int b = 0; b < n; b++)
            for (int y = 0; y < box.Height; y++)
                Array.Copy(src.Data, ((long)(b * box.Height + y) * box.Width) * c,
                           dst.Data, ((long)(b * dh + box.Y0 + y) * dw + box.X0) * c, rowLen);
    }
}
