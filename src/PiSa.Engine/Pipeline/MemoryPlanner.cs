namespace PiSa.Engine.Pipeline;

/// <summary>The memory a run may use: --max-memory when given, else what the system reports available at start.</summary>
public sealed record MemoryBudget(long Bytes, string Source)
{
    /// <summary>From --max-memory SIZE, or from the available memory now (call before loading the model).</summary>
    public static MemoryBudget Resolve(string? maxMemory)
    {
        if (maxMemory != null) return new MemoryBudget(MemorySize.Parse(maxMemory, "--max-memory"), "--max-memory");
        if (MemAvailable() is long avail) return new MemoryBudget(avail + CurrentRss(), "available memory (MemAvailable in /proc/meminfo)");
        long gc = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return new MemoryBudget(gc, "memory available to the .NET runtime");
    }

    private static long? MemAvailable()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return parts.Length >= 2 && long.TryParse(parts[1], out long kb) ? kb * 1024 : null;
                }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    private static long CurrentRss()
    {
        using var p = System.Diagnostics.Process.GetCurrentProcess();
        return p.WorkingSet64;
    }

    public override string ToString() => $"{MemorySize.Format(Bytes)} ({Source})";
}

/// <summary>
/// Checks a run against the budget before any work: returns the options to run with (with smaller tiles when the
/// tiling is automatic and the configured one does not fit), or refuses with one line saying what the run needs.
/// </summary>
public static class MemoryPlanner
{
    // Tile sizes tried when tiling is automatic, largest (the official defaults) first.
    private static readonly int[] DecoderTiles = [224, 160, 128, 96, 64];
    private static readonly int[] EncoderTiles = [1024, 768, 512, 384, 256];
    private static readonly int[] LatentTiles = [96, 64];

    public static MemoryEstimate Plan(ModelFootprint f, string backend, int width, int height, UpscaleOptions o,
        MemoryBudget budget, bool tilingIsAutomatic, Action<string>? notice = null, HostImages? host = null, long? deviceBudget = null)
    {
        if (o.LatentTile == UpscaleOptions.AutomaticLatentTile)
        {
            // -t 0: the latent tile is chosen from the budget; the VAE tiles stay as given.
            (o, string chosen) = AutoLatentTile.Choose(f, backend, width, height, o, budget, host, deviceBudget);
            notice?.Invoke(chosen);
            tilingIsAutomatic = false;
        }
        var sizes = Imaging.Preprocess.Plan(width, height, o.Upscale, o.ProcessSize);
        int lh = sizes.Height8 / 8, lw = sizes.Width8 / 8;
        if (LatentTiling.IsActive(lh, lw, o.LatentTile) && Math.Min(o.LatentTile, Math.Min(lh, lw)) <= o.LatentOverlap && tilingIsAutomatic)
        {
            // A latent this thin cannot be tiled with the default overlap: the official code would fail; use a third of the tile.
            int t = Math.Min(o.LatentTile, Math.Min(lh, lw));
            o = o with { LatentOverlap = (t - 1) / 3 };
            notice?.Invoke($"latent {lw}x{lh} is thinner than the default tile overlap: --latent-overlap {o.LatentOverlap} chosen");
        }
        if (LatentTiling.IsActive(lh, lw, o.LatentTile)) LatentTiling.EffectiveTile(lh, lw, o.LatentTile, o.LatentOverlap);
        var first = MemoryEstimator.ForImage(f, backend, width, height, o, host);
        if (first.Total <= budget.Bytes) return first;
        if (tilingIsAutomatic)
        {
            foreach (int lt in LatentTiles)
                foreach (int et in EncoderTiles)
                    foreach (int dt in DecoderTiles)
                    {
                        int eff = Math.Min(lt, Math.Min(lh, lw));
                        var t = o with { LatentTile = lt, LatentOverlap = Math.Min(o.LatentOverlap, (eff - 1) / 3), VaeEncoderTile = et, VaeDecoderTile = dt };
                        var e = MemoryEstimator.ForImage(f, backend, width, height, t, host);
                        if (e.Total > budget.Bytes) continue;
                        notice?.Invoke($"tiling chosen to fit the memory budget {budget}: --latent-tile {lt} --latent-overlap {t.LatentOverlap} --vae-encoder-tile {et} --vae-decoder-tile {dt} (estimated peak {e.Describe()})");
                        return e;
                    }
        }
        throw new PisaException($"a {width}x{height} input needs about {first.Describe()}, more than the memory budget of {budget}" +
            (tilingIsAutomatic ? " at any tiling" : "") + "; use a smaller input or --process-size, or raise --max-memory if more memory is free");
    }
}
