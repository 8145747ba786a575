using System.Runtime.Intrinsics;

namespace PiSa.Engine.Backends.Cpu.Bf16;

/// <summary>
/// C[M, N] += A[M, K] · B[K, N] with A and B rounded to bf16 and products accumulated in float32 (what PyTorch's
/// CPU bf16 matmul computes, apart from its rounding of C to bf16, which this keeps in float32). Blocking as the
/// float32 <see cref="CpuGemm"/>: K in blocks of <see cref="KC"/> (one B panel slice of KC/2 pairs x 128 bytes =
/// 16 KB stays in L1), M in blocks of <see cref="MC"/> rows whose A block is rounded and packed once per task into
/// 14-row micro-panels (57 KB, L2), then swept against every B panel of the task by <see cref="Bf16MicroKernel"/>.
/// Tasks are (M block, N chunk) pairs, and the accumulation order does not depend on threading (deterministic).
/// </summary>
internal static unsafe class Bf16Gemm
{
    public const int MR = Bf16MicroKernel.MR, NR = Bf16MicroKernel.NR;
    /// <summary>K block; even, so only the last block of an odd K has a half-filled pair.</summary>
    public const int KC = 256;
    public const int MC = 8 * MR;

    [ThreadStatic] private static float[]? t_tile;
    [ThreadStatic] private static uint[]? t_packed;

    public static void Run(int m, GemmA a, Bf16PackedMatrix b, float[] c, int cOffset, int ldc)
    {
        int k = b.K;
        if (m == 0 || b.N == 0 || k == 0) return;
        if ((long)cOffset + (long)(m - 1) * ldc + b.N > c.Length || ldc < b.N)
            throw new ArgumentException($"bf16 GEMM: C of {c.Length} floats cannot hold {m} x {b.N} at offset {cOffset}, stride {ldc}");
        var kernel = Bf16MicroKernel.Entry;
        var split = GemmTasks.For(m, MC, b.Panels);
        int tasks = split.Count;

        void Task(int t)
        {
            var (m0, mc, p0, p1) = split.Range(t);
            var packed = t_packed ??= GC.AllocateArray<uint>(MC * KC / 2, pinned: true);
            fixed (uint* bp = b.Data)
            fixed (uint* ap = packed)
            fixed (float* cp = c)
            {
                float* cRow = cp + cOffset + (long)m0 * ldc;
                for (int k0 = 0; k0 < k; k0 += KC)
                {
                    int kc = Math.Min(KC, k - k0);
                    if (a.Array != null)
                    {
                        fixed (float* src = a.Array)
                            PackA(src + a.Offset + (long)m0 * a.Lda + k0, a.Lda, mc, kc, ap);
                    }
                    else
                    {
                        var tile = t_tile ??= GC.AllocateArray<float>(MC * KC, pinned: true);
                        a.Pack(m0, mc, k0, kc, tile.AsSpan(0, mc * kc));
                        fixed (float* tp = tile) PackA(tp, kc, mc, kc, ap);
                    }
                    Block(kernel, ap, mc, k0, kc, bp, b, p0, p1, cRow, ldc);
                }
            }
        }

        if (tasks == 1) Task(0);
        else Parallel.For(0, tasks, Task);
    }

    /// <summary>
    /// Rounds A's (mc x kc) block (row stride lda) to bf16 pairs in micro-panels of MR rows: panel i, pair q,
    /// row r at dst[(i*kp + q)*MR + r]. Rows past mc and the high half of a last odd column are zero (not
    /// garbage: 0 x a padded B entry must stay 0, and NaN x 0 would not).
    /// </summary>
    internal static void PackA(float* src, long lda, int mc, int kc, uint* dst)
    {
        int kp = (kc + 1) / 2, fullPairs = kc / 2;
        int panels = (mc + MR - 1) / MR;
        uint* lanes = stackalloc uint[8];
        for (int i = 0; i < panels; i++)
        {
            uint* d = dst + (long)i * kp * MR;
            for (int r = 0; r < MR; r++)
            {
                int row = i * MR + r;
                if (row >= mc)
                {
                    for (int q = 0; q < kp; q++) d[q * MR + r] = 0;
                    continue;
                }
                float* s = src + row * lda;
                int q0 = 0;
                for (; q0 + 8 <= fullPairs; q0 += 8)
                {
                    Bf16Round.Pairs(Vector256.Load(s + 2 * q0), Vector256.Load(s + 2 * q0 + 8)).Store(lanes);
                    uint* dq = d + q0 * MR + r;
                    for (int j = 0; j < 8; j++) dq[j * MR] = lanes[j];
                }
                for (; q0 < fullPairs; q0++)
                    d[q0 * MR + r] = Bf16Round.Round(s[2 * q0]) | (uint)Bf16Round.Round(s[2 * q0 + 1]) << 16;
                if (kp > fullPairs) d[fullPairs * MR + r] = Bf16Round.Round(s[2 * fullPairs]);
            }
        }
    }

    /// <summary>The packed (mc x kc) A block against panels [p0, p1) of B's rows [k0, k0+kc).</summary>
    private static void Block(delegate* unmanaged<uint*, uint*, long, float*, long, void> kernel, uint* ap, int mc, int k0, int kc,
        uint* bBase, Bf16PackedMatrix b, int p0, int p1, float* c, int ldc)
    {
        int kp = (kc + 1) / 2;
        float* edge = stackalloc float[MR * NR];
        for (int p = p0; p < p1; p++)
        {
            uint* bp = bBase + ((long)p * b.KPairs + k0 / 2) * NR;
            int n0 = p * NR, nn = Math.Min(NR, b.N - n0);
            for (int i = 0; i * MR < mc; i++)
            {
                int mr = Math.Min(MR, mc - i * MR);
                uint* ai = ap + (long)i * kp * MR;
                float* ci = c + (long)i * MR * ldc + n0;
                if (mr == MR && nn == NR)
                {
                    kernel(ai, bp, kp, ci, (long)ldc * sizeof(float));
                    continue;
                }
                // Edge tile: the full kernel on a scratch tile (A's missing rows are zero), then the valid part back.
                EdgeTile.Load(ci, ldc, mr, nn, edge, MR, NR);
                kernel(ai, bp, kp, edge, NR * sizeof(float));
                EdgeTile.Store(edge, NR, mr, nn, ci, ldc);
            }
        }
    }
}
