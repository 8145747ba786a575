namespace PiSa.Engine.Backends.Cuda;

/// <summary>The convolution kernels: conv.cu's reference conv2d_igemm_f16, conv_pipe.cu's three mma.sync block tiles
/// and their Hopper twins on wgmma (module <see cref="LaunchMath.ConvWgmmaModule"/>; <see cref="LaunchMath.OnWgmma"/>).</summary>
public enum ConvTile { Reference, T64x64, T128x64, T128x128, T64x64Wgmma, T128x64Wgmma, T128x128Wgmma }

/// <summary>How one convolution (or fallback linear layer) is launched: the block tile and the number of K splits
/// (1: the fused epilogue in the GEMM kernel; more: fp32 partials then conv_splitk_reduce_f16).</summary>
public readonly record struct ConvPlan(ConvTile Tile, int Splits = 1)
{
    public override string ToString() => Splits > 1 ? $"{Tile} split {Splits}" : Tile.ToString();
}

public static partial class LaunchMath
{
    /// <summary>k-tile of conv_pipe.cu (PIPE_BK).</summary>
    public const int ConvPipeTileK = 32;

    /// <summary>Streaming multiprocessors the tile and split heuristics plan for (the H100 SXM's 132).</summary>
    public const int ConvTargetSms = 132;

    /// <summary>A split gets at least this many k-tiles (256 of K), so a split's pipeline fills and the partials'
    /// traffic (splits x M x O x 4 bytes twice) stays small against the GEMM.</summary>
    public const int ConvMinTilesPerSplit = 8;

    public const int ConvMaxSplits = 16;

    /// <summary>PISA_CONV_REFERENCE=1: every convolution on the reference kernel (to compare the versions end to end).</summary>
    private static readonly bool ForceReferenceConv = Environment.GetEnvironmentVariable("PISA_CONV_REFERENCE") == "1";

    /// <summary>The module of conv_pipe.cu compiled with -DPISA_WGMMA (sm_90a; compute_90 on the PTX interpreter):
    /// see <see cref="KernelModule"/>.</summary>
    public const string ConvWgmmaModule = "conv_pipe.cu+wgmma";

    /// <summary>The module a tile's kernels are in.</summary>
    public static string ConvModule(ConvTile t) => IsWgmma(t) ? ConvWgmmaModule : "conv_pipe.cu";

    public static bool IsWgmma(ConvTile t) => t is ConvTile.T64x64Wgmma or ConvTile.T128x64Wgmma or ConvTile.T128x128Wgmma;

    /// <summary>A conv_pipe tile's Hopper twin: the same block tile, one warpgroup per 64 rows on wgmma.</summary>
    public static ConvTile OnWgmma(ConvTile t) => t switch
    {
        ConvTile.T64x64 => ConvTile.T64x64Wgmma,
        ConvTile.T128x64 => ConvTile.T128x64Wgmma,
        ConvTile.T128x128 => ConvTile.T128x128Wgmma,
        _ => t,
    };

    public static (int M, int N, int Threads, int Stages) ConvTileShape(ConvTile t) => t switch
    {
        ConvTile.Reference => (ConvTileM, ConvTileN, ConvThreads, 1),
        ConvTile.T64x64 => (64, 64, 128, 4),
        ConvTile.T128x64 => (128, 64, 128, 4),
        ConvTile.T128x128 => (128, 128, 256, 3),
        ConvTile.T64x64Wgmma => (64, 64, 128, 5),
        ConvTile.T128x64Wgmma => (128, 64, 256, 5),
        ConvTile.T128x128Wgmma => (128, 128, 256, 5),
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <param name="gather">the _gather version of a conv_pipe tile: the input read through the general address
    /// (nearest 2x upsampling and/or a channel concat folded into the gather).</param>
    public static string ConvKernelName(ConvTile t, bool gather = false) => (t, gather) switch
    {
        (ConvTile.Reference, false) => "conv2d_igemm_f16",
        (ConvTile.T64x64, false) => "conv2d_pipe_64x64_f16",
        (ConvTile.T128x64, false) => "conv2d_pipe_128x64_f16",
        (ConvTile.T128x128, false) => "conv2d_pipe_128x128_f16",
        (ConvTile.T64x64, true) => "conv2d_pipe_64x64_gather_f16",
        (ConvTile.T128x64, true) => "conv2d_pipe_128x64_gather_f16",
        (ConvTile.T128x128, true) => "conv2d_pipe_128x128_gather_f16",
        (ConvTile.T64x64Wgmma, false) => "conv2d_wgmma_64x64_f16",
        (ConvTile.T128x64Wgmma, false) => "conv2d_wgmma_128x64_f16",
        (ConvTile.T128x128Wgmma, false) => "conv2d_wgmma_128x128_f16",
        (ConvTile.T64x64Wgmma, true) => "conv2d_wgmma_64x64_gather_f16",
        (ConvTile.T128x64Wgmma, true) => "conv2d_wgmma_128x64_gather_f16",
        (ConvTile.T128x128Wgmma, true) => "conv2d_wgmma_128x128_gather_f16",
        _ => throw new ArgumentOutOfRangeException(nameof(t), $"no {t} conv kernel{(gather ? " with the general gather" : "")}"),
    };

    /// <summary>Dynamic shared memory of a conv_pipe kernel: the row table (3 ints per tile row) and the larger of
    /// the pipeline (stages x (BM + BN) rows of 40 halfs, 32 for wgmma's unpadded core matrices) and the fp32
    /// epilogue staging (BM rows of BN + 8). Mirrors PipeCfg::SMEM in conv_pipe.cu.</summary>
    public static int ConvPipeSharedBytes(ConvTile t)
    {
        var (bm, bn, _, stages) = ConvTileShape(t);
        int row = IsWgmma(t) ? ConvPipeTileK : ConvPipeTileK + 8;
        int pipe = stages * (bm + bn) * row * 2;
        int staging = bm * (bn + 8) * 4;
        return bm * 3 * 4 + Math.Max(pipe, staging);
    }

    public static int ConvKTiles(int kp) => (kp + ConvPipeTileK - 1) / ConvPipeTileK;

    public static long ConvBlocks(ConvTile t, long m, int o)
    {
        var (bm, bn, _, _) = ConvTileShape(t);
        return (m + bm - 1) / bm * ((o + bn - 1) / bn);
    }

    /// <summary>
    /// The tile heuristic: the largest tile that still fills every SM once (128x128 reads 64 FLOP per loaded byte,
    /// 128x64 43, 64x64 32), else 64x64; when even 64x64 leaves SMs idle (the UNet's 8x8 and 16x16 latents:
    /// M = 64..256 against K = 9 x 1280) K is split so that about one block per SM runs, each split keeping at least
    /// <see cref="ConvMinTilesPerSplit"/> k-tiles. With <paramref name="wgmma"/> (an sm_90 GPU that can compile it)
    /// the same tile and split run on its wgmma twin (<see cref="OnWgmma"/>): on Hopper mma.sync is the slower
    /// tensor-core path (a prediction; no GPU has measured it yet, see bench/RESULTS.md).
    /// </summary>
    public static ConvPlan ChooseConvPlan(long m, int o, int kp, bool wgmma = false)
    {
        var plan = ChooseMmaSyncPlan(m, o, kp);
        return wgmma ? plan with { Tile = OnWgmma(plan.Tile) } : plan;
    }

    private static ConvPlan ChooseMmaSyncPlan(long m, int o, int kp)
    {
        if (ForceReferenceConv) return new ConvPlan(ConvTile.Reference);
        if (o > 64 && ConvBlocks(ConvTile.T128x128, m, o) >= ConvTargetSms) return new ConvPlan(ConvTile.T128x128);
        if (ConvBlocks(ConvTile.T128x64, m, o) >= ConvTargetSms) return new ConvPlan(ConvTile.T128x64);
        long blocks = ConvBlocks(ConvTile.T64x64, m, o);
        int splits = 1;
        if (blocks < ConvTargetSms)
        {
            long want = (ConvTargetSms + blocks - 1) / blocks;
            splits = (int)Math.Clamp(Math.Min(want, ConvKTiles(kp) / ConvMinTilesPerSplit), 1, ConvMaxSplits);
        }
        return new ConvPlan(ConvTile.T64x64, splits);
    }

    /// <summary>k-tiles per split and the number of non-empty splits for a requested split count.</summary>
    public static (int TilesPerSplit, int Splits) ConvSplit(int kp, int splits)
    {
        int tiles = ConvKTiles(kp);
        int s = Math.Clamp(splits, 1, Math.Max(tiles, 1));
        int per = (tiles + s - 1) / s;
        return (Math.Max(per, 1), Math.Max((tiles + per - 1) / Math.Max(per, 1), 1));
    }
}
