namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// The right-hand matrix B [K, N] of a GEMM, stored as column panels of <see cref="Width"/> columns:
/// panel p holds B[k, p*Width + j] at Data[p*K*Width + k*Width + j], zero-padded past N. The GEMM
/// micro-kernel then streams one panel contiguously for any K range.
/// </summary>
internal sealed class PackedMatrix : IPackedWeight
{
    public const int Width = CpuGemm.NR;

    public int K { get; }
    public int N { get; }
    public int Panels { get; }
    public float[] Data { get; }
    public long Bytes => (long)Data.Length * sizeof(float);

    public void MultiplyAdd(int m, GemmA a, float[] c, int cOffset, int ldc) => CpuGemm.Run(m, a, this, c, cOffset, ldc);

    private PackedMatrix(int k, int n)
    {
        K = k;
        N = n;
        Panels = (n + Width - 1) / Width;
        Data = GC.AllocateUninitializedArray<float>(checked(Panels * k * Width));
    }

    /// <summary>Packs B[k, n] = src[offset + k*strideK + n*strideN] for k &lt; K, n &lt; N.</summary>
    public static PackedMatrix FromStrided(ReadOnlySpan<float> src, int offset, int k, int n, int strideK, int strideN)
    {
        var m = new PackedMatrix(k, n);
        m.FillStrided(src, offset, strideK, strideN);
        return m;
    }

    /// <summary>Packs a linear weight W [out, in] as B = W^T (K = in, N = out).</summary>
    public static PackedMatrix FromLinearWeight(float[] w, int outF, int inF) => FromStrided(w, 0, inF, outF, 1, inF);

    /// <summary>Packs a conv weight W [O, I, kh, kw] as B [(ky*kw + kx)*I + c, o], the order the conv gather uses.</summary>
    public static PackedMatrix FromConvWeight(float[] w, int o, int i, int kh, int kw)
    {
        int taps = kh * kw;
        // Reorder to [tap, c, o] first, then pack with unit strides.
        var t = GC.AllocateUninitializedArray<float>(checked(taps * i * o));
        for (int oc = 0; oc < o; oc++)
            for (int c = 0; c < i; c++)
                for (int tap = 0; tap < taps; tap++)
                    t[(tap * i + c) * o + oc] = w[(oc * i + c) * taps + tap];
        return FromStrided(t, 0, taps * i, o, o, 1);
    }

    private void FillStrided(ReadOnlySpan<float> src, int offset, int strideK, int strideN)
    {
        var d = Data.AsSpan();
        for (int p = 0; p < Panels; p++)
        {
            int n0 = p * Width, nn = Math.Min(Width, N - n0);
            var panel = d.Slice(p * K * Width, K * Width);
            for (int k = 0; k < K; k++)
            {
                var row = panel.Slice(k * Width, Width);
                int baseIdx = offset + k * strideK + n0 * strideN;
                if (strideN == 1)
                    src.Slice(baseIdx, nn).CopyTo(row);
                else
                    for (int j = 0; j < nn; j++) row[j] = src[baseIdx + j * strideN];
                row.Slice(nn).Clear();
            }
        }
    }
}
