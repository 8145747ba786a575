using System.Numerics.Tensors;

namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// Scaled dot-product attention, exact (the full score row is formed, no online rescaling) so it can
/// serve as the oracle for the flash-style CUDA kernel. Per (batch, head) K^T and V are packed once as
/// GEMM right-hand matrices; then blocks of QB queries run S = Q K^T (GEMM), a float32 softmax with max
/// subtraction (sum in float64), and O = P V (GEMM), in parallel over (batch, head, query block).
/// </summary>
internal static unsafe class CpuAttention
{
    private const int QB = 48;

    [ThreadStatic] private static float[]? t_scores;

    public static CpuTensor Forward(CpuTensor q, CpuTensor k, CpuTensor v, int heads, bool causal)
    {
        if (q.Rank != 3 || k.Rank != 3 || v.Rank != 3 || !Tensors.ShapeUtil.Equal(k.Shape, v.Shape)
            || k.Shape[0] != q.Shape[0] || k.Shape[2] != q.Shape[2] || heads <= 0 || q.Shape[2] % heads != 0)
            throw new PisaException($"Attention: q [{Tensors.ShapeUtil.Format(q.Shape)}], k [{Tensors.ShapeUtil.Format(k.Shape)}], v [{Tensors.ShapeUtil.Format(v.Shape)}] with {heads} heads do not fit [B, L, H*D]");
        return Run(q, 0, k, 0, v, 0, q.Shape[2], heads, causal);
    }

    /// <summary>IOps.AttentionWindows: q, k and v read in place as channel windows of wider tensors.</summary>
    public static CpuTensor Windows(CpuTensor q, int qStart, CpuTensor kv, int kStart, int vStart, int width, int heads, bool causal)
    {
        if (q.Rank != 3 || kv.Rank != 3 || kv.Shape[0] != q.Shape[0] || width <= 0 || heads <= 0 || width % heads != 0
            || !InWindow(qStart, width, q.Shape[2]) || !InWindow(kStart, width, kv.Shape[2]) || !InWindow(vStart, width, kv.Shape[2]))
            throw new PisaException($"Attention windows: q [{Tensors.ShapeUtil.Format(q.Shape)}] at {qStart}, kv [{Tensors.ShapeUtil.Format(kv.Shape)}] at {kStart}/{vStart}, width {width}, {heads} heads do not fit");
        return Run(q, qStart, kv, kStart, kv, vStart, width, heads, causal);
    }

    private static bool InWindow(int start, int width, int channels) => start >= 0 && start + (long)width <= channels;

    /// <summary>Head h of q reads channels qStart + [h*D, (h+1)*D) of rows ldq = q.Shape[2] apart (likewise k and v);
    /// the output is a contiguous [B, Lq, hd].</summary>
    private static CpuTensor Run(CpuTensor q, int qStart, CpuTensor k, int kStart, CpuTensor v, int vStart, int hd, int heads, bool causal)
    {
        int b = q.Shape[0], lq = q.Shape[1], lk = k.Shape[1], d = hd / heads;
        int ldq = q.Shape[2], ldk = k.Shape[2], ldv = v.Shape[2];
        var y = CpuTensor.RentZeroed(b, lq, hd);
        if (y.Count == 0) return y;
        if (lk == 0) throw new PisaException("Attention: no keys");
        float scale = (float)(1.0 / Math.Sqrt(d));

        var kT = new PackedMatrix[b * heads];
        var vp = new PackedMatrix[b * heads];
        Parallel.For(0, b * heads, bh =>
        {
            int bi = bh / heads, h = bh % heads;
            kT[bh] = PackedMatrix.FromStrided(k.Data, bi * lk * ldk + kStart + h * d, d, lk, 1, ldk);  // B[dd, j] = k[bi, j, kStart + h*d + dd]
            vp[bh] = PackedMatrix.FromStrided(v.Data, bi * lk * ldv + vStart + h * d, lk, d, ldv, 1);  // B[j, dd] = v[bi, j, vStart + h*d + dd]
        });

        int qBlocks = (lq + QB - 1) / QB;
        var qd = q.Data;
        var yd = y.Data;
        Parallel.For(0, b * heads * qBlocks, t =>
        {
            int bh = t / qBlocks, qb = t % qBlocks;
            int bi = bh / heads, h = bh % heads;
            int i0 = qb * QB, rows = Math.Min(QB, lq - i0);
            var scores = t_scores;
            if (scores == null || scores.Length < QB * lk) t_scores = scores = GC.AllocateArray<float>(QB * lk, pinned: true);
            fixed (float* s = scores)
            fixed (float* qp = qd)
            fixed (float* yp = yd)
            {
                new Span<float>(s, rows * lk).Clear();
                long qOff = ((long)bi * lq + i0) * ldq + qStart + h * d;
                long yOff = ((long)bi * lq + i0) * hd + h * d;
                CpuGemm.Serial(qp + qOff, ldq, rows, kT[bh], s, lk);
                for (int r = 0; r < rows; r++)
                    Softmax(new Span<float>(s + (long)r * lk, lk), scale, causal ? i0 + r + 1 : lk);
                CpuGemm.Serial(s, lk, rows, vp[bh], yp + yOff, hd);
            }
        });
        return y;
    }

    /// <summary>In place: row = softmax(row * scale) over the first `valid` entries, zeros after (causal mask).</summary>
    private static void Softmax(Span<float> row, float scale, int valid)
    {
        valid = Math.Min(valid, row.Length);
        var live = row.Slice(0, valid);
        TensorPrimitives.Multiply(live, scale, live);
        float max = TensorPrimitives.Max(live);
        TensorPrimitives.Subtract(live, max, live);
        FastExp.Exp(live, live);
        double sum = 0;
        foreach (float e in live) sum += e;
        TensorPrimitives.Multiply(live, (float)(1.0 / sum), live);
        row.Slice(valid).Clear();
    }
}
