using PiSa.Engine.Backends.Cuda;

namespace PiSa.Tests.CudaKernels;

/// <summary>LaunchMath's conv tile and split-K heuristic (pure host math) on the UNet's and VAE's GEMM shapes.</summary>
public class ConvPlanTests
{
    [Theory]
    // M = N*OH*OW, O, K: 512x512 output -> 64x64 latent; the VAE decoder runs at 64..512 px
    [InlineData(4096, 320, 9 * 320, ConvTile.T128x64, 1)]        // UNet 64x64: 128x128 gives 96 blocks, 128x64 160
    [InlineData(1024, 640, 9 * 640, ConvTile.T64x64, 1)]         // UNet 32x32: 160 blocks of 64x64
    [InlineData(256, 1280, 9 * 1280, ConvTile.T64x64, 2)]        // UNet 16x16: 80 blocks -> 2 splits
    [InlineData(64, 1280, 9 * 1280, ConvTile.T64x64, 7)]         // UNet 8x8: 20 blocks -> 7 splits of 52 k-tiles
    [InlineData(64, 1280, 1280, ConvTile.T64x64, 5)]             // 8x8 1x1: only 40 k-tiles -> 5 splits of 8
    [InlineData(512 * 512, 128, 9 * 128, ConvTile.T128x128, 1)]  // VAE decoder at full size
    [InlineData(512 * 512, 3, 9 * 128, ConvTile.T128x64, 1)]     // conv_out: O = 3 never takes a 128-wide tile
    [InlineData(90, 16, 27, ConvTile.T64x64, 1)]                 // tiny: K too short to split
    public void The_heuristic_picks_the_documented_plan(long m, int o, int k, ConvTile tile, int splits)
    {
        var plan = LaunchMath.ChooseConvPlan(m, o, LaunchMath.PaddedK(k));
        Assert.Equal(new ConvPlan(tile, splits), plan);
        var (per, s) = LaunchMath.ConvSplit(LaunchMath.PaddedK(k), plan.Splits);
        Assert.Equal(splits, s);
        Assert.True(splits == 1 || per >= LaunchMath.ConvMinTilesPerSplit);
    }

    [Fact]
    public void Splits_cover_every_k_tile_once_and_none_is_empty()
    {
        for (int kp = 8; kp <= 4000; kp += 8)
            for (int want = 1; want <= 20; want++)
            {
                var (per, s) = LaunchMath.ConvSplit(kp, want);
                int tiles = LaunchMath.ConvKTiles(kp);
                Assert.True(s >= 1 && s <= Math.Max(want, 1), $"kp {kp} want {want}: {s} splits");
                Assert.True((long)s * per >= tiles && (long)(s - 1) * per < tiles, $"kp {kp} want {want}: {s} x {per} for {tiles} tiles");
            }
    }

    [Fact]
    public void Shared_memory_per_tile_is_the_pipeline_or_the_staging_plus_the_row_table()
    {
        // 3 stages x (128 + 128) rows x 40 halfs = 61 440 B < staging 128 x 136 floats = 69 632 B; + 1 536 B table
        Assert.Equal(71_168, LaunchMath.ConvPipeSharedBytes(ConvTile.T128x128));
        Assert.Equal(1_536 + 4 * 192 * 80, LaunchMath.ConvPipeSharedBytes(ConvTile.T128x64));
        Assert.Equal(768 + 4 * 128 * 80, LaunchMath.ConvPipeSharedBytes(ConvTile.T64x64));
        // wgmma: 5 stages x (BM + BN) rows x 32 halfs (unpadded core matrices), more than the staging
        Assert.Equal(1_536 + 5 * 256 * 64, LaunchMath.ConvPipeSharedBytes(ConvTile.T128x128Wgmma));
        Assert.Equal(1_536 + 5 * 192 * 64, LaunchMath.ConvPipeSharedBytes(ConvTile.T128x64Wgmma));
        Assert.Equal(768 + 5 * 128 * 64, LaunchMath.ConvPipeSharedBytes(ConvTile.T64x64Wgmma));
    }

    /// <summary>On sm_90 the heuristic keeps its tile and split and takes the tile's wgmma twin (one warpgroup per
    /// 64 rows, the same block shape).</summary>
    [Fact]
    public void With_wgmma_every_pipelined_plan_takes_its_twin()
    {
        var seen = new HashSet<ConvTile>();
        foreach (long m in new long[] { 64, 256, 1024, 4096, 16384, 65536, 512 * 512 })
            foreach (int o in new[] { 3, 64, 128, 320, 640, 1280 })
            {
                int kp = LaunchMath.PaddedK(9 * o);
                var plain = LaunchMath.ChooseConvPlan(m, o, kp);
                var hopper = LaunchMath.ChooseConvPlan(m, o, kp, wgmma: true);
                Assert.Equal(plain with { Tile = LaunchMath.OnWgmma(plain.Tile) }, hopper);
                Assert.True(LaunchMath.IsWgmma(hopper.Tile));
                var (bm, bn, _, _) = LaunchMath.ConvTileShape(plain.Tile);
                var (wm, wn, threads, _) = LaunchMath.ConvTileShape(hopper.Tile);
                Assert.Equal((bm, bn, bm * 2), (wm, wn, threads));   // two threads a row: a warpgroup per 64 rows
                seen.Add(hopper.Tile);
            }
        Assert.Equal([ConvTile.T64x64Wgmma, ConvTile.T128x64Wgmma, ConvTile.T128x128Wgmma], seen.Order());
    }
}
