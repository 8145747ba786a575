namespace PiSa.Engine.Pipeline;

/// <summary>
/// `--latent-tile 0`: the largest latent tile whose estimated peak (<see cref="MemoryEstimator"/>, the one model of
/// a run's memory) fits the budget. Untiled is tried first, then a tile as large as the latent's shorter side, then
/// multiples of 8 down to <see cref="SmallestTile"/>; the estimate only grows with the tile, so the first that fits
/// is the largest. The overlap is kept below a third of the tile (as the planner's automatic tiling does) so
/// tiles still advance. On the GPU backends the device's budget (free device memory plus what the backend holds,
/// <see cref="Backends.Cuda.CudaOps.DeviceBudgetBytes"/>; on the interpreter the host's budget unless
/// PISA_PTX_DEVICE_MEMORY says otherwise) is compared with <see cref="DeviceMemoryEstimator"/>'s upper bound instead.
/// </summary>
public static class AutoLatentTile
{
    /// <summary>The smallest tile tried (the golden fixtures' tiled case runs 8x8 latent tiles).</summary>
    public const int SmallestTile = 8;

    /// <summary>The official default (test_pisasr.py's latent_tiled_size).</summary>
    public const int DefaultTile = 96;

    /// <summary>The options with <see cref="UpscaleOptions.AutomaticLatentTile"/> replaced by a size, and a
    /// one-line notice saying which and why. When no tile fits, the smallest is returned for the planner to
    /// refuse with its estimate.</summary>
    public static (UpscaleOptions Options, string Notice) Choose(ModelFootprint f, string backend, int width, int height,
        UpscaleOptions o, MemoryBudget budget, HostImages? host = null, long? deviceBudget = null)
    {
        var sizes = Imaging.Preprocess.Plan(width, height, o.Upscale, o.ProcessSize);
        int lh = sizes.Height8 / 8, lw = sizes.Width8 / 8;
        bool cpu = backend == "cpu";
        if (!cpu && deviceBudget is null && backend != "ptx")
        {
            var d = WithTile(o, DefaultTile, lh, lw);
            return (d, $"--latent-tile 0: the free device memory of {backend} is not known, so the default latent tile {DefaultTile} is used" +
                (LatentTiling.IsActive(lh, lw, DefaultTile) ? $" (overlap {d.LatentOverlap})" : $" (the {lw}x{lh} latent is not tiled)"));
        }
        // The interpreter's device memory is the host's: without PISA_PTX_DEVICE_MEMORY the host budget bounds it.
        var limit = cpu ? budget : deviceBudget is long db ? new MemoryBudget(db, $"device memory of {backend}") : budget;
        UpscaleOptions? last = null;
        foreach (int t in Candidates(lh, lw))
        {
            var c = WithTile(o, t, lh, lw);
            if (LatentTiling.IsActive(lh, lw, t) && Math.Min(t, Math.Min(lh, lw)) <= c.LatentOverlap) continue;
            last = c;
            var (total, peak) = Estimate(f, backend, width, height, sizes.Width8, sizes.Height8, c, host);
            if (total > limit.Bytes) continue;
            return (c, LatentTiling.IsActive(lh, lw, t)
                ? $"--latent-tile 0: latent tile {Math.Min(t, Math.Min(lh, lw))} (overlap {c.LatentOverlap}) is the largest that fits the memory budget {limit} on the {lw}x{lh} latent (estimated peak {peak})"
                : $"--latent-tile 0: the {lw}x{lh} latent runs untiled within the memory budget {limit} (estimated peak {peak})");
        }
        budget = limit;
        var smallest = last ?? WithTile(o, SmallestTile, lh, lw);
        return (smallest, $"--latent-tile 0: not even latent tile {Math.Min(smallest.LatentTile, Math.Min(lh, lw))} fits the memory budget {budget}");
    }

    /// <summary>The planned peak of one candidate: host memory on the CPU, device memory on the GPU backends.</summary>
    private static (long Total, string Describe) Estimate(ModelFootprint f, string backend, int width, int height, int mw, int mh,
        UpscaleOptions c, HostImages? host)
    {
        if (backend == "cpu")
        {
            var e = MemoryEstimator.ForImage(f, backend, width, height, c, host);
            return (e.Total, e.Describe());
        }
        var d = DeviceMemoryEstimator.ForModelInput(f, mw, mh, c);
        return (d.Total, d.Describe());
    }

    /// <summary>Tile sides to try, largest first: untiled (the longer side), the shorter side, then multiples of 8.</summary>
    public static IEnumerable<int> Candidates(int lh, int lw)
    {
        int longer = Math.Max(lh, lw), shorter = Math.Min(lh, lw);
        yield return Math.Max(longer, 2);
        if (shorter < longer) yield return shorter;
        for (int t = (shorter - 1) / 8 * 8; t >= SmallestTile; t -= 8) yield return t;
    }

    private static UpscaleOptions WithTile(UpscaleOptions o, int tile, int lh, int lw)
    {
        int effective = Math.Min(tile, Math.Min(lh, lw));
        // Untiled, the overlap is unused; it only has to stay below the tile for the options to validate.
        return o with { LatentTile = tile, LatentOverlap = LatentTiling.IsActive(lh, lw, tile) ? Math.Min(o.LatentOverlap, (effective - 1) / 3) : Math.Min(o.LatentOverlap, tile - 1) };
    }
}
