using PiSa.Engine.Imaging;

namespace PiSa.Engine.Pipeline;

/// <summary>How the two LoRA adapters are applied (SPEC section 2).</summary>
public enum LoraMode
{
    /// <summary>One UNet pass on W_pisa = W_sd + dW_pix + dW_sem (the official --default).</summary>
    Default,
    /// <summary>The official adjustable mode: two passes, lambda_pix*eps(W_pix) + lambda_sem*(eps(W_pisa) - eps(W_pix)).</summary>
    Adjustable,
    /// <summary>The engine's one-pass approximation: W_sd + lambda_pix*dW_pix + lambda_sem*dW_sem (not exact off (1, 1)).</summary>
    Fused,
}

/// <summary>Per-run options of `pisa upscale`, defaults as test_pisasr.py has them.</summary>
public sealed record UpscaleOptions
{
    public LoraMode Mode { get; init; } = LoraMode.Default;
    public float LambdaPix { get; init; } = 1f;
    public float LambdaSem { get; init; } = 1f;
    public string Prompt { get; init; } = "";
    public ColorFixMethod ColorFix { get; init; } = ColorFixMethod.AdaIn;
    public int Upscale { get; init; } = 4;
    public int ProcessSize { get; init; } = 512;
    /// <summary>UNet tile side in latent pixels, or <see cref="AutomaticLatentTile"/> (chosen per image by
    /// <see cref="MemoryPlanner"/> from the memory budget).</summary>
    public int LatentTile { get; init; } = 96;
    public int LatentOverlap { get; init; } = 32;
    public int VaeEncoderTile { get; init; } = 1024;
    public int VaeDecoderTile { get; init; } = 224;
    /// <summary>On a backend with device memory, the tiled VAE keeps only the tile being processed on the device and
    /// parks the others on the host between GroupNorm rounds (VAEHook's tile.cpu()): the device then holds one tile's
    /// activations instead of every tile's (2048x2048: about 2 GiB instead of 12). It costs a download and an upload
    /// of every tile per round; false keeps all tiles on the device. Lossless (fp16 round-trips through float32
    /// exactly); no effect on the CPU backend.</summary>
    public bool ParkVaeTiles { get; init; } = true;

    /// <summary>`--latent-tile 0` (`-t 0`): the largest latent tile whose estimated peak fits the memory budget.</summary>
    public const int AutomaticLatentTile = 0;

    /// <param name="latentTileMayBeAutomatic">The caller plans the run with <see cref="MemoryPlanner"/>, which
    /// replaces <see cref="AutomaticLatentTile"/> by a size; everywhere else a tile size must be given.</param>
    public void Validate(bool latentTileMayBeAutomatic = false)
    {
        if (Upscale < 1 || Upscale > 16) throw new PisaException($"--upscale must be between 1 and 16, got {Upscale}");
        if (ProcessSize < 8) throw new PisaException($"--process-size must be at least 8, got {ProcessSize}");
        if (LatentTile == AutomaticLatentTile && latentTileMayBeAutomatic)
        {
            if (LatentOverlap < 0) throw new PisaException($"--latent-overlap must be 0 or more, got {LatentOverlap}");
        }
        else
        {
            if (LatentTile == AutomaticLatentTile)
                throw new PisaException("--latent-tile 0 (automatic from the memory budget) is chosen per image by `pisa upscale`; give a size of at least 2 here");
            if (LatentTile < 2) throw new PisaException($"--latent-tile must be at least 2 (or 0: automatic), got {LatentTile}");
            if (LatentOverlap < 0 || LatentOverlap >= LatentTile) throw new PisaException($"--latent-overlap must be in [0, latent tile), got {LatentOverlap}");
        }
        if (VaeEncoderTile < 8) throw new PisaException($"--vae-encoder-tile must be at least 8, got {VaeEncoderTile}");
        if (VaeDecoderTile < 1) throw new PisaException($"--vae-decoder-tile must be at least 1, got {VaeDecoderTile}");
        if (!float.IsFinite(LambdaPix) || !float.IsFinite(LambdaSem)) throw new PisaException("--lambda-pix and --lambda-sem must be finite numbers");
    }
}
