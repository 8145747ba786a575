using PiSa.Engine.Pipeline;

namespace PiSa.Engine.Api;

/// <summary>How <see cref="PisaUpscaler.Load"/> finds and places the model.</summary>
public sealed record PisaUpscalerOptions
{
    /// <summary>SD 2.1-base folder in diffusers layout (unet/, vae/, text_encoder/, tokenizer/).</summary>
    public required string ModelDir { get; init; }
    /// <summary>pisa_sr.pkl (official) or pisa_sr.safetensors (from `pisa convert`).</summary>
    public required string LoraPath { get; init; }
    /// <summary>"auto" (CUDA when a usable GPU is found, else the CPU), "cpu" or "cuda".</summary>
    public string Device { get; init; } = "auto";
    /// <summary>Bf16: the CPU backend's conv and linear GEMMs in bfloat16 (Device "cpu" on a CPU with AVX512-BF16 only;
    /// <see cref="PisaUpscaler.Load"/> refuses otherwise). Fp32, the default, is the reference.</summary>
    public Backends.Cpu.CpuPrecision Precision { get; init; } = Backends.Cpu.CpuPrecision.Fp32;
    /// <summary>The CUDA device to use, numbered from 0 (as `pisa doctor` lists them).</summary>
    public int Gpu { get; init; }
    /// <summary>Bytes the cached LoRA weight sets (one per mode and lambdas) may take before the least recently
    /// used is dropped.</summary>
    public long WeightSetBudgetBytes { get; init; } = PisaModel.DefaultWeightSetBudgetBytes;
    /// <summary>Receives one-line notices (e.g. "no usable GPU; running on the CPU").</summary>
    public Action<string>? Notice { get; init; }
}
