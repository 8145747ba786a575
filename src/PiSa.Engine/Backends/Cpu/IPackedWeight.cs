namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// A weight matrix B [K, N] packed once for one GEMM kernel: float32 panels (<see cref="PackedMatrix"/>, the
/// reference) or bf16 pairs (<see cref="Bf16.Bf16PackedMatrix"/>, opt-in). Conv and linear layers call
/// <see cref="MultiplyAdd"/> and do not care which.
/// </summary>
internal interface IPackedWeight
{
    int K { get; }
    int N { get; }
    /// <summary>Bytes the packed copy holds.</summary>
    long Bytes { get; }
    /// <summary>C (pre-initialised, row stride ldc, from cOffset) += A · B, multi-threaded.</summary>
    void MultiplyAdd(int m, GemmA a, float[] c, int cOffset, int ldc);
}
