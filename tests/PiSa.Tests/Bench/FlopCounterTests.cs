using PiSa.Engine.Bench;
using PiSa.Engine.Formats;
using PiSa.Engine.Models;
using PiSa.Engine.Pipeline;

namespace PiSa.Tests.Bench;

/// <summary>FLOP counts checked by hand on configs small enough to enumerate every conv, linear and attention.</summary>
public class FlopCounterTests
{
    private static VaeConfig Vae(params int[] channels) => new()
    {
        BlockOutChannels = channels,
        DownBlockTypes = channels.Select(_ => "DownEncoderBlock2D").ToArray(),
        UpBlockTypes = channels.Select(_ => "UpDecoderBlock2D").ToArray(),
        LayersPerBlock = 1,
        NormNumGroups = 2,
    };

    [Fact]
    public void Text_encoder_one_layer()
    {
        var cfg = new ClipTextConfig { VocabSize = 10, HiddenSize = 8, IntermediateSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, MaxPositionEmbeddings = 4 };
        var f = FlopCounter.TextEncoder(cfg, 4);
        // q, k, v, out: 4 * 2*8*8*4; fc1 and fc2: 2 * 2*8*16*4; embeddings are gathers.
        Assert.Equal(4 * 2 * 8 * 8 * 4 + 2 * 2 * 8 * 16 * 4, f.Linear);
        Assert.Equal(4 * 4 * 4 * 8, f.Attention); // QK^T and PV over 4x4 tokens, 8 channels
        Assert.Equal(0, f.Conv);
    }

    [Fact]
    public void Vae_one_block_encoder_and_decoder_at_8x8()
    {
        var cfg = Vae(4);
        var enc = FlopCounter.VaeEncoder(cfg, 8, 8);
        // conv_in 3->4 3x3, one resnet 4->4 (two 3x3 convs), mid: two resnets, conv_out 4->8 3x3, quant_conv 8->8 1x1; 64 pixels.
        double p = 64;
        double c33 = 2 * 4 * 4 * 9 * p;
        Assert.Equal(2 * 4 * 3 * 9 * p + 2 * c33 + 4 * c33 + 2 * 8 * 4 * 9 * p + 2 * 8 * 8 * p, enc.Conv);
        Assert.Equal(4 * 2 * 4 * 4 * p, enc.Linear); // mid attention q, k, v, out
        Assert.Equal(4 * p * p * 4, enc.Attention);

        var dec = FlopCounter.VaeDecoder(cfg, 8, 8);
        // post_quant_conv 4->4 1x1, conv_in 4->4, up block: two resnets, mid: two resnets, conv_out 4->3.
        Assert.Equal(2 * 4 * 4 * p + c33 + 4 * c33 + 4 * c33 + 2 * 3 * 4 * 9 * p, dec.Conv);
        Assert.Equal(4 * 2 * 4 * 4 * p, dec.Linear);
        Assert.Equal(4 * p * p * 4, dec.Attention);
    }

    [Fact]
    public void Vae_two_block_encoder_runs_the_second_block_at_half_resolution()
    {
        var enc = FlopCounter.VaeEncoder(Vae(4, 8), 16, 16);
        double hi = 256, lo = 64;
        double expected =
            2 * 4 * 3 * 9 * hi                                          // conv_in
            + 2 * (2 * 4 * 4 * 9 * hi)                                 // block 0 resnet 4->4
            + 2 * 4 * 4 * 9 * lo                                        // downsampler, stride 2: output 8x8
            + 2 * 8 * 4 * 9 * lo + 2 * 8 * 8 * 9 * lo + 2 * 8 * 4 * lo  // block 1 resnet 4->8 with 1x1 shortcut
            + 4 * (2 * 8 * 8 * 9 * lo)                                  // mid block: two resnets 8->8
            + 2 * 8 * 8 * 9 * lo                                        // conv_out 8->8
            + 2 * 8 * 8 * lo;                                           // quant_conv
        Assert.Equal(expected, enc.Conv);
        Assert.Equal(4 * 2 * 8 * 8 * lo, enc.Linear);
        Assert.Equal(4 * lo * lo * 8, enc.Attention);
    }

    [Fact]
    public void UNet_stage_counts_latent_tiles_and_the_adjustable_modes_two_passes()
    {
        var cfg = DiffusersConfig.LoadUNet(Path.Combine(FixturePaths.Sd21, "unet", "config.json"));
        var one = FlopCounter.UNet(cfg, 96, 96, 77);
        // 128x128 latent, tile 96, overlap 32: origins {0, 32} per axis, four tiles of 96x96.
        var tiled = FlopCounter.UNetStage(cfg, 128, 128, 77, new UpscaleOptions());
        Assert.Equal(4 * one.Total, tiled.Total, 6);
        var untiled = FlopCounter.UNetStage(cfg, 64, 64, 77, new UpscaleOptions());
        Assert.Equal(FlopCounter.UNet(cfg, 64, 64, 77).Total, untiled.Total);
        var adjustable = FlopCounter.UNetStage(cfg, 64, 64, 77, new UpscaleOptions { Mode = LoraMode.Adjustable });
        Assert.Equal(2 * untiled.Total, adjustable.Total);
    }

    [Fact]
    public void SD21_shapes_at_512_are_in_the_published_range()
    {
        var unet = DiffusersConfig.LoadUNet(Path.Combine(FixturePaths.Sd21, "unet", "config.json"));
        var vae = DiffusersConfig.LoadVae(Path.Combine(FixturePaths.Sd21, "vae", "config.json"));
        // BK-SDM (Kim et al. 2023) lists the SD UNet at 339 GMAC per 64x64 pass and the VAE decoder at 512 at about
        // 1.24 TMAC (a MAC is 2 FLOP here); the encoder, mirror image without the extra resnet per block, a bit less.
        Assert.InRange(FlopCounter.UNet(unet, 64, 64, 77).Total / 1e12, 0.6, 1.0);
        Assert.InRange(FlopCounter.VaeDecoder(vae, 64, 64).Total / 1e12, 2.0, 3.0);
        Assert.InRange(FlopCounter.VaeEncoder(vae, 512, 512).Total / 1e12, 0.8, 1.5);
    }
}
