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

    /// <summary>
    /// A GEGLU projection's [2F, in] weight for conv_pipe.cu's GEGLU epilogue: packed as <see cref="PackConvWeight"/>
    /// with the rows reordered in groups of 16, rows 16g..16g+7 the value rows 8g..8g+7 and rows 16g+8..16g+15 the
    /// matching gate rows F+8g..F+8g+7, zero rows where 8g + i reaches F. Returns the row count 16 * ceil(F/8).
    /// </summary>
    public static ushort[] PackGegluWeight(HostTensor w, out int rows, out int k, out int kp)
    {
        if (w.Rank != 2 || w.Shape[0] % 2 != 0 || w.Shape[0] == 0)
            throw new PisaException($"GEGLU weight {w} must be [2F, in]");
        int f = w.Shape[0] / 2, inF = w.Shape[1];
        rows = GegluPackedRows(f);
        k = inF;
        kp = LaunchMath.PaddedK(k);
        var packed = new ushort[(long)rows * kp];
        float[] src = w.Data;
        for (int r = 0; r < rows; r++)
        {
            int from = GegluSourceRow(r, f);
            if (from < 0) continue;
            for (int ci = 0; ci < inF; ci++) packed[(long)r * kp + ci] = ToHalfBits(src[(long)from * inF + ci]);
        }
        return packed;
    }

    /// <summary>A GEGLU bias [2F] in the packed row order of <see cref="PackGegluWeight"/> (zeros in the padding).</summary>
    public static float[] PackGegluBias(HostTensor b)
    {
        if (b.Rank != 1 || b.Count % 2 != 0) throw new PisaException($"GEGLU bias {b} must be [2F]");
        int f = (int)(b.Count / 2);
        var packed = new float[GegluPackedRows(f)];
        for (int r = 0; r < packed.Length; r++)
            if (GegluSourceRow(r, f) is var from and >= 0) packed[r] = b.Data[from];
        return packed;
    }

    public static int GegluPackedRows(int f) => checked(16 * ((f + 7) / 8));

    /// <summary>The row of the [2F, in] weight that packed row r holds, or -1 for a zero padding row.</summary>
    public static int GegluSourceRow(int r, int f)
    {
        int ch = (r / 16) * 8 + r % 8;
        if (ch >= f) return -1;
        return r % 16 < 8 ? ch : f + ch;
    }

    public static ushort ToHalfBits(float v) => BitConverter.HalfToUInt16Bits((Half)v);
    public static float FromHalfBits(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);
}
