using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// Host-side repacking of PyTorch-layout parameters into what the kernels read.
/// Conv [O, I, kh, kw] and linear [out, in] weights become fp16 rows [O][kh][kw][I] (the implicit-GEMM
/// reduction order k = (ky*kw + kx)*I + ci), each row zero-padded to <see cref="LaunchMath.PaddedK"/>.
/// </summary>
public static class WeightPacking
{
    /// <summary>Packed fp16 bits, [O][Kp]; also returns K = kh*kw*I and Kp.</summary>
    public static ushort[] PackConvWeight(HostTensor w, out int k, out int kp)
    {
        int o, i, kh, kw;
        if (w.Rank == 4) { o = w.Shape[0]; i = w.Shape[1]; kh = w.Shape[2]; kw = w.Shape[3]; }
        else if (w.Rank == 2) { o = w.Shape[0]; i = w.Shape[1]; kh = 1; kw = 1; }
        else throw new PisaException($"weight {w} must be [O, I, kh, kw] or [out, in]");
        k = kh * kw * i;
        kp = LaunchMath.PaddedK(k);
        var packed = new ushort[(long)o * kp];
        float[] src = w.Data;
        for (int oo = 0; oo < o; oo++)
            for (int ci = 0; ci < i; ci++)
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++)
                    {
                        float v = src[((oo * i + ci) * kh + ky) * kw + kx];
                        packed[(long)oo * kp + (ky * kw + kx) * i + ci] = ToHalfBits(v);
                    }
        return packed;
    }

    public static ushort ToHalfBits(float v) => BitConverter.HalfToUInt16Bits((Half)v);
    public static float FromHalfBits(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);
}
