namespace PiSa.Engine.Backends.Cpu;

/// <summary>What the CPU backend's conv and linear GEMMs compute in.</summary>
public enum CpuPrecision
{
    /// <summary>float32 throughout: the reference every other path is checked against.</summary>
    Fp32,
    /// <summary>Weights and GEMM inputs rounded to bfloat16, products summed in float32 (AVX512-BF16 only);
    /// everything else (norms, attention, activations) stays float32.</summary>
    Bf16,
}
