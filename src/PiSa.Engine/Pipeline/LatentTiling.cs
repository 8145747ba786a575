using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Pipeline;

/// <summary>
/// The official PiSA-SR latent tiling (PiSASR_eval._predict_with_tiling): when the latent has more than
/// tile^2 pixels the UNet runs on overlapping square tiles, each prediction is weighted by a separable
/// Gaussian and the weighted sum is divided by the summed weights.
///
/// Placement, as the official loop computes it (its `row` walks x, its `col` walks y): tile i along an axis
/// starts at max(i*tile - i*overlap, 0), the last one flush with the far edge; the number of tiles is the
/// smallest count whose last regular tile reaches the edge. Every tile runs alone (the official batching
/// condition always fires with one tile in the list).
///
/// One deliberate difference: the official code builds the Gaussian for the requested tile size BEFORE
/// clamping the tile to min(h, w), which fails with a shape error when clamping happens; we build it for
/// the clamped size, which is identical whenever the official code runs at all.
/// </summary>
public static class LatentTiling
{
    /// <summary>True when the official code would tile this latent.</summary>
    public static bool IsActive(int h, int w, int tileSize) => (long)h * w > (long)tileSize * tileSize;

    /// <summary>The tile side used on an h x w latent (clamped to the shorter side), or a refusal when it would not
    /// exceed the overlap (the tiles would not advance).</summary>
    public static int EffectiveTile(int h, int w, int tileSize, int overlap)
    {
        int tile = Math.Min(tileSize, Math.Min(h, w));
        if (tile <= overlap)
            throw new PisaException($"latent tile {tile} must be larger than the overlap {overlap} (the latent is {w}x{h}; use a smaller --latent-overlap)");
        return tile;
    }

    /// <summary>Tile origins along one axis of the given length.</summary>
    public static int[] Origins(int length, int tile, int overlap)
    {
        int count = 0, cur = 0;
        while (cur < length)
        {
            cur = Math.Max(count * tile - overlap * count, 0) + tile;
            count++;
        }
        var origins = new int[count];
        for (int i = 0; i < count; i++)
            origins[i] = i == count - 1 ? length - tile : Math.Max(i * tile - overlap * i, 0);
        return origins;
    }

    /// <summary>Per-axis weights exp(-(x-(n-1)/2)^2 / (2 n^2 0.01)) / sqrt(2 pi 0.01), in double as numpy does.</summary>
    public static double[] GaussianProfile(int n)
    {
        var p = new double[n];
        double mid = (n - 1) / 2.0;
        for (int x = 0; x < n; x++)
            p[x] = Math.Exp(-(x - mid) * (x - mid) / (2.0 * n * n * 0.01)) / Math.Sqrt(2 * Math.PI * 0.01);
        return p;
    }

    /// <summary>
    /// Runs <paramref name="predict"/> over the tiles of an NHWC latent [1, h, w, c] and blends the results.
    /// <paramref name="predict"/> receives a [1, t, t, c] tile and returns a [1, t, t, c] prediction (the caller
    /// disposes neither; this method disposes both). Blending happens on the host in float32 like the official
    /// float32 accumulators, with weights computed in double and rounded per product as torch does.
    /// <paramref name="tileDone"/> (tiles done, tiles in all) is called after each tile: progress and cancellation.
    /// </summary>
    public static DeviceTensor Predict(IOps ops, DeviceTensor latent, int tileSize, int overlap, Func<DeviceTensor, DeviceTensor> predict,
        Action<int, int>? tileDone = null)
    {
        if (latent.Rank != 4 || latent.Dim(0) != 1)
            throw new ArgumentException($"latent tiling expects an NHWC latent with batch 1, got [{ShapeUtil.Format(latent.Shape)}]");
        int h = latent.Dim(1), w = latent.Dim(2), c = latent.Dim(3);
        int tile = EffectiveTile(h, w, tileSize, overlap);
        var profile = GaussianProfile(tile);
        int[] xs = Origins(w, tile, overlap), ys = Origins(h, tile, overlap);

        var sum = new float[h * w * c];
        var contributors = new float[h * w * c];
        int done = 0;
        // The official loops: outer over x origins ("row"), inner over y origins ("col"); the order of the
        // float32 additions follows it so overlapping sums round the same way.
        foreach (int x0 in xs)
        {
            foreach (int y0 in ys)
            {
                using var tileIn = ops.CropSpatial(latent, y0, y0 + tile, x0, x0 + tile);
                using var tileOut = predict(tileIn);
                var pred = ops.Download(tileOut).Data;
                for (int ty = 0; ty < tile; ty++)
                {
                    for (int tx = 0; tx < tile; tx++)
                    {
                        double wgt = profile[ty] * profile[tx];
                        int src = (ty * tile + tx) * c;
                        int dst = ((y0 + ty) * w + (x0 + tx)) * c;
                        for (int ch = 0; ch < c; ch++)
                        {
                            sum[dst + ch] = (float)(sum[dst + ch] + (double)pred[src + ch] * wgt);
                            contributors[dst + ch] = (float)(contributors[dst + ch] + wgt);
                        }
                    }
                }
                tileDone?.Invoke(++done, xs.Length * ys.Length);
            }
        }
        for (int i = 0; i < sum.Length; i++) sum[i] /= contributors[i];
        return ops.Upload(new Tensors.HostTensor([1, h, w, c], sum));
    }
}
