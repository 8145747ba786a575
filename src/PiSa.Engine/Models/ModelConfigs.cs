namespace PiSa.Engine.Models;

// The engine's view of the three diffusers/transformers configs. Parsing (Formats/DiffusersConfig.cs)
// fills these from config.json with diffusers 0.25 / transformers 4.28 defaults for omitted fields
// and refuses options the engine does not implement. Model code reads only these records.

public sealed record UNetConfig
{
    public int InChannels { get; init; } = 4;
    public int OutChannels { get; init; } = 4;
    public int[] BlockOutChannels { get; init; } = [320, 640, 1280, 1280];
    public string[] DownBlockTypes { get; init; } = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
    public string[] UpBlockTypes { get; init; } = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];
    public string MidBlockType { get; init; } = "UNetMidBlock2DCrossAttn";
    public int LayersPerBlock { get; init; } = 2;
    /// <summary>Number of attention heads per down block: diffusers' attention_head_dim, which in UNet2DConditionModel holds the head COUNT (the config parser refuses num_attention_heads, as diffusers 0.25 does).</summary>
    public int[] AttentionHeads { get; init; } = [5, 10, 20, 20];
    public int CrossAttentionDim { get; init; } = 1024;
    public int NormNumGroups { get; init; } = 32;
    public float NormEps { get; init; } = 1e-5f;
    public bool FlipSinToCos { get; init; } = true;
    public float FreqShift { get; init; } = 0;
    public bool UseLinearProjection { get; init; } = true;
    public int DownsamplePadding { get; init; } = 1;
    public float MidBlockScaleFactor { get; init; } = 1;
    public int TransformerLayersPerBlock { get; init; } = 1;
    public int ConvInKernel { get; init; } = 3;
    public int ConvOutKernel { get; init; } = 3;
    public bool UpcastAttention { get; init; }
    public bool OnlyCrossAttention { get; init; }
    /// <summary>Time embedding width: block_out_channels[0] * 4 unless time_embedding_dim is set.</summary>
    public int TimeEmbedDim => BlockOutChannels[0] * 4;
}

public sealed record VaeConfig
{
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public int[] BlockOutChannels { get; init; } = [128, 256, 512, 512];
    public string[] DownBlockTypes { get; init; } = ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"];
    public string[] UpBlockTypes { get; init; } = ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"];
    public int LayersPerBlock { get; init; } = 2;
    public int LatentChannels { get; init; } = 4;
    public int NormNumGroups { get; init; } = 32;
    public float ScalingFactor { get; init; } = 0.18215f;
    /// <summary>Whether the mid blocks carry the single-head attention (diffusers mid_block_add_attention, default true).</summary>
    public bool MidBlockAddAttention { get; init; } = true;
}

public sealed record ClipTextConfig
{
    public int VocabSize { get; init; } = 49408;
    public int HiddenSize { get; init; } = 1024;
    public int IntermediateSize { get; init; } = 4096;
    public int NumHiddenLayers { get; init; } = 23;
    public int NumAttentionHeads { get; init; } = 16;
    public int MaxPositionEmbeddings { get; init; } = 77;
    public float LayerNormEps { get; init; } = 1e-5f;
    /// <summary>"gelu" (exact erf) or "quick_gelu".</summary>
    public string HiddenAct { get; init; } = "gelu";
}
