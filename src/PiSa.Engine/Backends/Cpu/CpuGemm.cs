using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using PiSa.Engine.Backends.Cpu.X64;

namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// Where the left matrix A [M, K] of a GEMM comes from: either a strided array read in place
/// (linear layers, 1x1 convs, attention), or a gather that fills a row-major tile on demand (conv).
/// </summary>
internal abstract class GemmA
{
    /// <summary>When not null, A[m, k] = Array[Offset + m*Lda + k] and <see cref="Pack"/> is never called.</summary>
    public float[]? Array { get; protected init; }
    public int Offset { get; protected init; }
    public int Lda { get; protected init; }

    /// <summary>Writes A[m0 + r, k0 + j] to dst[r*kc + j] for r &lt; mc, j &lt; kc.</summary>
    public abstract void Pack(int m0, int mc, int k0, int kc, Span<float> dst);
}

internal sealed class DirectA : GemmA
{
    public DirectA(float[] array, int offset, int lda) { Array = array; Offset = offset; Lda = lda; }
    public override void Pack(int m0, int mc, int k0, int kc, Span<float> dst) => throw new InvalidOperationException("DirectA is read in place");
}

/// <summary>
/// Float32 GEMM C[M, N] += A[M, K] · B[K, N] with B pre-packed in panels (<see cref="PackedMatrix"/>).
/// Blocked GotoBLAS-style: K in blocks of KC (one packed B panel slice stays in L1), M in blocks of MC
/// rows (the A tile stays in L2), and a register-tile micro-kernel: 14x32 with 512-bit FMA where AVX-512 is usable
/// (<see cref="Fp32Avx512Kernel"/>), otherwise 6x16 with 256-bit FMA. Tasks are (M block, N chunk) pairs so
/// small-M products (text encoder, cross attention) still use every core. Accumulation is float32 in a fixed order
/// that depends on neither threading nor the kernel (each C element adds its products in k order with one fused
/// multiply-add each, KC at a time), so every machine gives the same bits.
/// </summary>
/// <summary>
/// A micro-kernel's partial tile (rows past M, columns past N): the full kernel runs on a scratch copy of C's valid
/// part, zero elsewhere, and only the valid part goes back. Shared by the float32 and bf16 GEMMs' kernels.
/// </summary>
internal static unsafe class EdgeTile
{
    /// <summary>edge[r*width + j] = c[r*ldc + j] for r &lt; rows, j &lt; cols; 0 elsewhere in height x width.</summary>
    public static void Load(float* c, int ldc, int rows, int cols, float* edge, int height, int width)
    {
        for (int r = 0; r < height; r++)
            for (int j = 0; j < width; j++)
                edge[r * width + j] = r < rows && j < cols ? c[(long)r * ldc + j] : 0f;
    }

    /// <summary>c[r*ldc + j] = edge[r*width + j] for r &lt; rows, j &lt; cols.</summary>
    public static void Store(float* edge, int width, int rows, int cols, float* c, int ldc)
    {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                c[(long)r * ldc + j] = edge[r * width + j];
    }
}

internal static unsafe class CpuGemm
{
    public const int MR = 6, NR = 16, KC = 256, MC = 72;

    /// <summary>M block of the 512-bit path: 8 micro-tiles of 14 rows (a 112 x 256 A block is 112 KB, in L2).</summary>
    public const int MC512 = 8 * Fp32Avx512Kernel.MR;

    [ThreadStatic] private static float[]? t_tile;
    [ThreadStatic] private static float[]? t_edgeA;

    private static float[] Tile()
    {
        return t_tile ??= GC.AllocateArray<float>(Math.Max(MC, MC512) * KC, pinned: true);
    }

    /// <summary>C (pre-initialised, row stride ldc, from cOffset) += A · B, multi-threaded.</summary>
    public static void Run(int m, GemmA a, PackedMatrix b, float[] c, int cOffset, int ldc)
        => Run(m, a, b, c, cOffset, ldc, Fp32Avx512Kernel.Enabled);

    /// <summary><see cref="Run(int, GemmA, PackedMatrix, float[], int, int)"/> with the kernel chosen by the caller
    /// (tests compare the two; <paramref name="avx512"/> needs <see cref="Avx512Support"/>).</summary>
    internal static void Run(int m, GemmA a, PackedMatrix b, float[] c, int cOffset, int ldc, bool avx512)
    {
        int k = b.K;
        if (m == 0 || b.N == 0 || k == 0) return;
        if ((long)cOffset + (long)(m - 1) * ldc + b.N > c.Length || ldc < b.N)
            throw new ArgumentException($"GEMM: C of {c.Length} floats cannot hold {m} x {b.N} at offset {cOffset}, stride {ldc}");
        int mcBlock = avx512 ? MC512 : MC;
        var split = GemmTasks.For(m, mcBlock, b.Panels);
        int tasks = split.Count;

        void Task(int t)
        {
            var (m0, mc, p0, p1) = split.Range(t);
            fixed (float* bp = b.Data)
            fixed (float* cp = c)
            {
                float* cRow = cp + cOffset + (long)m0 * ldc;
                if (a.Array != null)
                {
                    fixed (float* ap = a.Array)
                    {
                        for (int k0 = 0; k0 < k; k0 += KC)
                        {
                            float* ak = ap + a.Offset + (long)m0 * a.Lda + k0;
                            int kc = Math.Min(KC, k - k0);
                            Block(avx512, ak, a.Lda, mc, k0, kc, bp, b, p0, p1, cRow, ldc);
                        }
                    }
                }
                else
                {
                    var tile = Tile();
                    fixed (float* tp = tile)
                    {
                        for (int k0 = 0; k0 < k; k0 += KC)
                        {
                            int kc = Math.Min(KC, k - k0);
                            a.Pack(m0, mc, k0, kc, tile.AsSpan(0, mc * kc));
                            Block(avx512, tp, kc, mc, k0, kc, bp, b, p0, p1, cRow, ldc);
                        }
                    }
                }
            }
        }

        if (tasks == 1) Task(0);
        else Parallel.For(0, tasks, Task);
    }

    /// <summary>Single-threaded C += A · B for callers that parallelise at a higher level (attention).</summary>
    public static void Serial(float* a, int lda, int m, PackedMatrix b, float* c, int ldc)
    {
        int k = b.K;
        bool avx512 = Fp32Avx512Kernel.Enabled;
        int mcBlock = avx512 ? MC512 : MC;
        fixed (float* bp = b.Data)
        {
            for (int m0 = 0; m0 < m; m0 += mcBlock)
            {
                int mc = Math.Min(mcBlock, m - m0);
                for (int k0 = 0; k0 < k; k0 += KC)
                {
                    float* ak = a + (long)m0 * lda + k0;
                    int kc = Math.Min(KC, k - k0);
                    Block(avx512, ak, lda, mc, k0, kc, bp, b, 0, b.Panels, c + (long)m0 * ldc, ldc);
                }
            }
        }
    }

    /// <summary>One (mc x kc) A block against panels [p0, p1) on the chosen kernel.</summary>
    private static void Block(bool avx512, float* a, int lda, int mc, int k0, int kc, float* bBase, PackedMatrix b, int p0, int p1, float* c, int ldc)
    {
        if (avx512) Block512(a, lda, mc, k0, kc, bBase, b, p0, p1, c, ldc);
        else Block(a, lda, mc, k0, kc, bBase, b, p0, p1, c, ldc);
    }

    /// <summary>
    /// <see cref="Block(float*, int, int, int, int, float*, PackedMatrix, int, int, float*, int)"/> on the 512-bit kernels: panels two at a time (one for an odd last panel), 14 rows at a time.
    /// A partial tile (rows past mc, columns past N) runs the full kernel on scratch copies: A's missing rows repeat
    /// its last row, and only C's valid part is copied back.
    /// </summary>
    private static void Block512(float* a, int lda, int mc, int k0, int kc, float* bBase, PackedMatrix b, int p0, int p1, float* c, int ldc)
    {
        const int mr512 = Fp32Avx512Kernel.MR, w = 2 * NR;
        var two = Fp32Avx512Kernel.TwoPanels;
        var one = Fp32Avx512Kernel.OnePanel;
        float* edge = stackalloc float[mr512 * w];
        float* edgeA = null;
        var edgeArray = t_edgeA ??= GC.AllocateArray<float>(mr512 * KC, pinned: true);  // pinned: its address is taken below
        for (int p = p0; p < p1; p += 2)
        {
            int panels = Math.Min(2, p1 - p);
            var kernel = panels == 2 ? two : one;
            float* bp0 = bBase + (long)p * b.K * NR + (long)k0 * NR;
            float* bp1 = panels == 2 ? bp0 + (long)b.K * NR : bp0;
            int n0 = p * NR, nn = Math.Min(panels * NR, b.N - n0);
            for (int i = 0; i < mc; i += mr512)
            {
                int mr = Math.Min(mr512, mc - i);
                float* ai = a + (long)i * lda;
                float* ci = c + (long)i * ldc + n0;
                long ldaBytes = (long)lda * sizeof(float);
                if (mr == mr512 && nn == panels * NR)
                {
                    kernel(ai, bp0, kc, ci, (long)ldc * sizeof(float), bp1, ldaBytes);
                    continue;
                }
                if (mr < mr512)
                {
                    // Rows past mr would read past A's block: run on a copy whose missing rows repeat the last. Only
                    // the block's last row tile is partial, so the copy is made once and serves every panel pair.
                    if (edgeA == null)
                    {
                        edgeA = (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref edgeArray[0]);
                        for (int r = 0; r < mr512; r++)
                            new ReadOnlySpan<float>(ai + (long)Math.Min(r, mr - 1) * lda, kc).CopyTo(new Span<float>(edgeA + r * kc, kc));
                    }
                    ai = edgeA;
                    ldaBytes = (long)kc * sizeof(float);
                }
                EdgeTile.Load(ci, ldc, mr, nn, edge, mr512, w);
                kernel(ai, bp0, kc, edge, w * sizeof(float), bp1, ldaBytes);
                EdgeTile.Store(edge, w, mr, nn, ci, ldc);
            }
        }
    }

    /// <summary>One (mc x kc) A block against panels [p0, p1) of B's rows [k0, k0+kc).</summary>
    private static void Block(float* a, int lda, int mc, int k0, int kc, float* bBase, PackedMatrix b, int p0, int p1, float* c, int ldc)
    {
        float* edge = stackalloc float[MR * NR];
        for (int p = p0; p < p1; p++)
        {
            float* bp = bBase + (long)p * b.K * NR + (long)k0 * NR;
            int n0 = p * NR, nn = Math.Min(NR, b.N - n0);
            for (int i = 0; i < mc; i += MR)
            {
                int mr = Math.Min(MR, mc - i);
                float* ai = a + (long)i * lda;
                float* ci = c + (long)i * ldc + n0;
                if (mr == MR && nn == NR)
                {
                    Kernel(ai, ai + lda, ai + 2 * lda, ai + 3 * lda, ai + 4 * lda, ai + 5 * lda, bp, kc, ci, ldc);
                    continue;
                }
                // Edge tile: run the full kernel on a scratch tile, rows past mr repeat the last row.
                EdgeTile.Load(ci, ldc, mr, nn, edge, MR, NR);
                float* last = ai + (long)(mr - 1) * lda;
                Kernel(ai, mr > 1 ? ai + lda : last, mr > 2 ? ai + 2 * lda : last, mr > 3 ? ai + 3 * lda : last,
                       mr > 4 ? ai + 4 * lda : last, mr > 5 ? ai + 5 * lda : last, bp, kc, edge, NR);
                EdgeTile.Store(edge, NR, mr, nn, ci, ldc);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Mad(Vector256<float> a, Vector256<float> b, Vector256<float> c)
        => Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : c + a * b;

    /// <summary>6x16 register tile: c[r, 0..16) += sum_k a_r[k] * b[k*16 .. k*16+16).</summary>
    private static void Kernel(float* a0, float* a1, float* a2, float* a3, float* a4, float* a5, float* b, int kc, float* c, int ldc)
    {
        float* c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc;
        var x00 = Vector256.Load(c); var x01 = Vector256.Load(c + 8);
        var x10 = Vector256.Load(c1); var x11 = Vector256.Load(c1 + 8);
        var x20 = Vector256.Load(c2); var x21 = Vector256.Load(c2 + 8);
        var x30 = Vector256.Load(c3); var x31 = Vector256.Load(c3 + 8);
        var x40 = Vector256.Load(c4); var x41 = Vector256.Load(c4 + 8);
        var x50 = Vector256.Load(c5); var x51 = Vector256.Load(c5 + 8);
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            b += NR;
            var a = Vector256.Create(a0[k]); x00 = Mad(a, b0, x00); x01 = Mad(a, b1, x01);
            a = Vector256.Create(a1[k]); x10 = Mad(a, b0, x10); x11 = Mad(a, b1, x11);
            a = Vector256.Create(a2[k]); x20 = Mad(a, b0, x20); x21 = Mad(a, b1, x21);
            a = Vector256.Create(a3[k]); x30 = Mad(a, b0, x30); x31 = Mad(a, b1, x31);
            a = Vector256.Create(a4[k]); x40 = Mad(a, b0, x40); x41 = Mad(a, b1, x41);
            a = Vector256.Create(a5[k]); x50 = Mad(a, b0, x50); x51 = Mad(a, b1, x51);
        }
        x00.Store(c); x01.Store(c + 8);
        x10.Store(c1); x11.Store(c1 + 8);
        x20.Store(c2); x21.Store(c2 + 8);
        x30.Store(c3); x31.Store(c3 + 8);
        x40.Store(c4); x41.Store(c4 + 8);
        x50.Store(c5); x51.Store(c5 + 8);
    }
}
