namespace PiSa.Engine.Formats;

/// <summary>
/// Bounds on every count and dimension a config.json may declare. A config is untrusted input: before these
/// bounds, a layer count of 2^31-1 built a description of billions of tensors (and a model) before any weight
/// was looked at. Each bound sits far above every published SD / CLIP model and low enough that the largest
/// description the parser can let through (8 blocks x 33 resnets x 16 transformer layers, about 85,000
/// tensor names) is listed and checked against the weight file in milliseconds. The exact sizes are then
/// cross-checked tensor by tensor against the weights (ParamCheck) before any model is built.
/// </summary>
public static class ConfigLimits
{
    /// <summary>UNet/VAE resolution levels (SD: 4; 8 would already be a 128x downsampling).</summary>
    public const int MaxBlocks = 8;
    /// <summary>Resnets per block (SD: 2; no published diffusers UNet or VAE uses more than 3).</summary>
    public const int MaxLayersPerBlock = 16;
    /// <summary>Transformer layers per attention block (SD: 1; SDXL: 10).</summary>
    public const int MaxTransformerLayers = 16;
    /// <summary>CLIP encoder layers (SD 2.1: 23; OpenCLIP bigG: 32).</summary>
    public const int MaxTextLayers = 128;
    /// <summary>Any channel count or feature width (SD: 1280; CLIP bigG MLP: 5120).</summary>
    public const int MaxWidth = 1 << 16;
    /// <summary>Image and latent channels of the model's inputs and outputs (SD: 3 and 4).</summary>
    public const int MaxIoChannels = 64;
    /// <summary>Convolution kernel size of conv_in / conv_out (SD: 3).</summary>
    public const int MaxKernel = 15;
    /// <summary>Token vocabulary (CLIP: 49,408).</summary>
    public const int MaxVocab = 1 << 20;
    /// <summary>Text positions (CLIP: 77); at least 2 for the start and end tokens.</summary>
    public const int MaxPositions = 1 << 14;
}
