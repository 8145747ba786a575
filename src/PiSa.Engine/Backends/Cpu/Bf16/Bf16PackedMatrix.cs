namespace PiSa.Engine.Backends.Cpu.Bf16;

/// <summary>
/// B [K, N] in bf16 for <see cref="Bf16Gemm"/>: column panels of 32 (<see cref="Bf16MicroKernel.NR"/>), each a run of
/// K/2 rounded-up k pairs, pair q holding 32 dwords (B[2q, j], B[2q+1, j]) with the even row in the low half.
/// Past K (odd K) and past N the pairs are zero. Built from the float32 <see cref="PackedMatrix"/>, so the weight
/// layouts (linear transpose, conv tap order) are defined once, there; half its bytes.
/// </summary>
internal sealed class Bf16PackedMatrix : IPackedWeight
{
    public const int Width = Bf16MicroKernel.NR;

    public int K { get; }
    public int N { get; }
    public int KPairs { get; }
    public int Panels { get; }
    public uint[] Data { get; }
    public long Bytes => (long)Data.Length * sizeof(uint);

    private Bf16PackedMatrix(int k, int n)
    {
        K = k;
        N = n;
        KPairs = (k + 1) / 2;
        Panels = (n + Width - 1) / Width;
        Data = GC.AllocateUninitializedArray<uint>(checked(Panels * KPairs * Width));
    }

    /// <summary>The bf16 copy of a float32 packed matrix (round to nearest even).</summary>
    public static Bf16PackedMatrix From(PackedMatrix f)
    {
        var m = new Bf16PackedMatrix(f.K, f.N);
        const int fw = PackedMatrix.Width;
        int k = f.K;
        var src = f.Data;
        var dst = m.Data;
        Parallel.For(0, m.Panels, p =>
        {
            for (int q = 0; q < m.KPairs; q++)
            {
                int k0 = 2 * q;
                int d = (p * m.KPairs + q) * Width;
                for (int j = 0; j < Width; j++)
                {
                    int n = p * Width + j;
                    uint pair = 0;
                    if (n < f.N)
                    {
                        int s = (n / fw) * k * fw + n % fw;  // column n of the float32 panel layout
                        pair = Bf16Round.Round(src[s + k0 * fw]);
                        if (k0 + 1 < k) pair |= (uint)Bf16Round.Round(src[s + (k0 + 1) * fw]) << 16;
                    }
                    dst[d + j] = pair;
                }
            }
        });
        return m;
    }

    public void MultiplyAdd(int m, GemmA a, float[] c, int cOffset, int ldc) => Bf16Gemm.Run(m, a, this, c, cOffset, ldc);
}
