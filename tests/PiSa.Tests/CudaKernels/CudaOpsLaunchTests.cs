using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// Drives every CudaOps member on a recording fake runtime (no GPU) and checks each launch against the
/// kernel signatures parsed from kernels/*.cu: argument kinds and order, live device pointers with room
/// for the output, block/grid/shared-memory limits, tiles covering the output, and no leaked memory.
/// </summary>
public class CudaOpsLaunchTests
{
    private static HostTensor Rand(int seed, params int[] shape)
    {
        var r = new Random(seed);
        var t = new HostTensor(shape);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(r.NextDouble() * 2 - 1);
        return t;
    }

    /// <summary>conv_pipe.cu's GEMM kernels: the mma.sync tiles and the wgmma variant's.</summary>
    private static bool IsPipe(string kernel) =>
        kernel.StartsWith("conv2d_pipe_", StringComparison.Ordinal) || kernel.StartsWith("conv2d_wgmma_", StringComparison.Ordinal);

    /// <summary>Runs every IOps member once or more; returns the runtime with its recorded launches.</summary>
    private static FakeGpuRuntime RunAllOps(bool cublas)
    {
        var rt = new FakeGpuRuntime { HasLinear = cublas };
        using (var ops = new CudaOps(rt, ownsRuntime: false))
        {
            var tensors = new List<DeviceTensor>();
            DeviceTensor U(params int[] s) { var t = ops.Upload(Rand(s.Length * 7 + s[^1], s)); tensors.Add(t); return t; }
            DeviceTensor K(DeviceTensor t) { tensors.Add(t); return t; }

            var x = U(2, 5, 7, 3);          // odd channels: generic conv path
            var x16 = U(1, 8, 8, 16);       // vectorised conv path
            K(ops.Conv2d(x, Rand(1, 4, 3, 3, 3), Rand(2, 4), 1, Pad2d.Same(1)));
            var w2 = Rand(3, 16, 16, 3, 3);
            var down = K(ops.Conv2d(x16, w2, null, 2, new Pad2d(0, 1, 0, 1)));
            K(ops.Conv2d(x16, w2, Rand(4, 16), 1, Pad2d.Same(1), K(ops.Conv2d(x16, w2, null, 1, Pad2d.Same(1)))));
            K(ops.Conv2d(down, Rand(5, 70, 16, 1, 1), Rand(6, 70), 1, Pad2d.Same(0)));
            // Every conv kernel (the heuristic picks 64x64 for shapes this small): the reference, the larger tiles, split-K.
            foreach (var plan in new[] { new ConvPlan(ConvTile.Reference), new ConvPlan(ConvTile.T128x64), new ConvPlan(ConvTile.T128x128),
                                         new ConvPlan(ConvTile.T64x64, 2), new ConvPlan(ConvTile.T128x128Wgmma, 2),
                                         new ConvPlan(ConvTile.T128x64Wgmma), new ConvPlan(ConvTile.T64x64Wgmma, 2) })
            {
                ops.ConvPlanner = (_, _, _) => plan;
                K(ops.Conv2d(x16, w2, Rand(4, 16), 1, Pad2d.Same(1), K(ops.Conv2d(x16, w2, null, 1, Pad2d.Same(1)))));
            }
            // The fused ops (the gather kernels, the GEGLU epilogue and its split-K reduce) on every tile.
            var x8 = U(1, 4, 4, 8);
            foreach (var plan in new[] { new ConvPlan(ConvTile.T64x64), new ConvPlan(ConvTile.T128x64), new ConvPlan(ConvTile.T128x128),
                                         new ConvPlan(ConvTile.T64x64, 2), new ConvPlan(ConvTile.T128x128Wgmma),
                                         new ConvPlan(ConvTile.T128x64Wgmma), new ConvPlan(ConvTile.T64x64Wgmma, 2) })
            {
                ops.ConvPlanner = (_, _, _) => plan;
                K(ops.Conv2dUpsampled(x8, 7, 8, Rand(20, 16, 8, 3, 3), Rand(21, 16), 1, Pad2d.Same(1)));
                K(ops.Conv2dConcat(x8, U(1, 4, 4, 16), Rand(22, 16, 24, 3, 3), null, 1, Pad2d.Same(1), U(1, 4, 4, 16)));
                K(ops.LinearGeglu(U(2, 9, 80), Rand(23, 26, 80), Rand(24, 26)));
            }
            ops.ConvPlanner = null;
            K(ops.GroupNormConcat(x8, U(1, 4, 4, 8), Rand(25, 16), Rand(26, 16), 4, 1e-5f, true));
            K(ops.GroupNormConcat(U(1, 50, 47, 12), U(1, 50, 47, 20), Rand(27, 32), Rand(28, 32), 1, 1e-6f, false));   // two launches
            var seq = U(2, 9, 24);
            K(ops.Linear(seq, Rand(7, 40, 24), Rand(8, 40)));
            K(ops.Linear(seq, Rand(9, 24, 24), null, seq));
            K(ops.Linear(U(3, 5), Rand(10, 7, 5), Rand(11, 7)));
            K(ops.GroupNorm(x16, Rand(12, 16), Rand(13, 16), 4, 1e-6f, true));
            K(ops.GroupNorm(seq, Rand(14, 24), Rand(15, 24), 8, 1e-5f, false));
            K(ops.GroupNorm(U(1, 50, 47, 32), Rand(18, 32), Rand(19, 32), 1, 1e-6f, true));   // a big group: two launches
            float[] stats = ops.GroupNormStats(x16, 4);
            Assert.Equal(2 * 4, stats.Length);
            K(ops.GroupNormApply(x16, stats, Rand(12, 16), Rand(13, 16), 4, 1e-6f, false));
            K(ops.LayerNorm(seq, Rand(16, 24), Rand(17, 24), 1e-5f));
            var q = U(2, 33, 24); var kv = U(2, 77, 24);
            K(ops.Attention(q, kv, kv, 3, false));
            K(ops.Attention(q, q, q, 1, true));
            K(ops.Attention(U(1, 4, 512), U(1, 6, 512), U(1, 6, 512), 1, false));
            var qkv = U(2, 33, 72);
            K(ops.AttentionWindows(qkv, 0, qkv, 24, 48, 24, 3, false));     // fused QKV read in place
            K(ops.AttentionWindows(q, 0, U(2, 77, 48), 0, 24, 24, 3, false));   // fused KV of a context
            K(ops.AttentionWindows(q, 0, U(2, 77, 51), 27, 1, 24, 3, false));   // odd row stride: not 16-byte rows, attention_mma_f16
            K(ops.Attention(U(1, 5, 80), U(1, 7, 80), U(1, 7, 80), 2, false));   // D 40: flash k3
            K(ops.Attention(U(1, 70, 64), U(1, 70, 64), U(1, 70, 64), 1, true)); // D 64: flash k4
            K(ops.Silu(x)); K(ops.Gelu(x)); K(ops.Geglu(seq));
            K(ops.Axpby(x, x, 0.5f, -2f)); K(ops.ScaleShift(x, 2f, 1f)); K(ops.Clamp(x, -1f, 1f));
            K(ops.AddChannelVector(x16, U(1, 16)));
            K(ops.AddChannelVector(seq, U(2, 24)));
            K(ops.UpsampleNearest2x(x)); K(ops.UpsampleNearest((CudaTensor)x, 11, 3));
            K(ops.ConcatChannels(x, U(2, 5, 7, 5)));
            K(ops.SliceChannels(seq, 4, 9));
            K(ops.CropSpatial(x, 1, 4, 2, 7));
            Assert.Equal(0, ops.CountNonFinite(seq));   // the fake runs no kernel: its partial counts stay zero
            var r = K(ops.Reshape(seq, 18, 24));
            Assert.Equal(new[] { 2, 5, 7, 3 }, ops.Download(x).Shape);
            Assert.Equal(new[] { 18, 24 }, ops.Download(r).Shape);
            foreach (var t in tensors) t.Dispose();
        }
        return rt;
    }

    /// <summary>Grid-stride kernels: (..., out, int n, ...) with n the number of outputs.</summary>
    private static readonly HashSet<string> FlatKernels =
    [
        "f32_to_f16", "f16_to_f32", "silu_f16", "gelu_f16", "geglu_f16", "axpby_f16", "scale_shift_f16", "clamp_f16",
        "add_channel_vector_f16", "upsample_nearest_f16", "concat_channels_f16", "slice_channels_f16", "crop_spatial_f16", "gn_apply",
    ];

    [Fact]
    public void EveryLaunchMatchesItsKernelSignatureAndLimits()
    {
        var sigs = KernelSignatures.All();
        Assert.NotEmpty(sigs);
        // Both runtimes: without cuBLASLt linears fall back to the conv kernel, with it the large-head attention runs on
        // GEMMs and its pack and softmax kernels.
        var runs = new[] { RunAllOps(cublas: false), RunAllOps(cublas: true) };
        var launches = runs.SelectMany(r => r.Launches).ToList();
        Assert.NotEmpty(launches);
        foreach (var l in launches)
        {
            string where = $"{l.Kernel} grid {l.Grid} block {l.Block}";
            Assert.True(sigs.TryGetValue(l.Kernel, out var sig), $"{l.Kernel} is not a kernel in kernels/*.cu");
            Assert.Equal(sig.File, l.File);
            Assert.Equal(sig.Kinds, l.Args.Kinds);
            int threads = l.Block.X * l.Block.Y * l.Block.Z;
            Assert.True(threads >= 32 && threads <= 1024 && threads % 32 == 0, where);
            Assert.True(l.Grid.X >= 1 && l.Grid.Y >= 1 && l.Grid.Y <= 65535 && l.Grid.Z >= 1 && l.Grid.Z <= 65535, where);
            // conv_pipe's tiles opt in to more dynamic shared memory (the runtime raises the attribute); the rest stay under 48 KB.
            Assert.InRange(l.Shared, 0, l.File is "conv_pipe.cu" or LaunchMath.ConvWgmmaModule ? 227 * 1024 : LaunchMath.MaxSharedBytes);
            for (int i = 0; i < l.Args.Count; i++)
            {
                if (l.Args.Kinds[i] != 'P') continue;
                IntPtr p = l.Args.PointerAt(i);
                bool optional = (l.Kernel == "conv2d_igemm_f16" && i is 2 or 3)       // bias, residual
                                || (IsPipe(l.Kernel) && i is 2 or 3 or 5 or 21)   // and the split-K partials, x2
                                || (l.Kernel == "conv_splitk_reduce_f16" && i is 1 or 2)
                                || (l.Kernel == "conv_splitk_reduce_geglu_f16" && i is 1);
                if (p == IntPtr.Zero) { Assert.True(optional, $"{where}: null pointer argument {i}"); continue; }
                Assert.True(l.BytesLeft[i] > 0, $"{where}: argument {i} is not live device memory");
            }
            // Flat kernels: (..., out, int n, ...) -> the last pointer must hold n outputs.
            int firstInt = l.Args.Kinds.IndexOf('I');
            if (FlatKernels.Contains(l.Kernel))
            {
                int n = l.Args.IntAt(firstInt);
                int elem = l.Kernel == "f16_to_f32" ? 4 : 2;
                Assert.True(l.BytesLeft[firstInt - 1] >= (long)n * elem, $"{where}: output too small for n={n}");
            }
        }
        foreach (var name in sigs.Keys)
            Assert.True(launches.Exists(l => l.Kernel == name), $"kernel {name} is never launched by CudaOps");
        Assert.All(runs, r => Assert.Empty(r.Live));   // every buffer (activations, staging, weights) went back to the pool
    }

    [Fact]
    public void ConvAndAttentionGridsCoverTheirOutputs()
    {
        var rt = RunAllOps(cublas: false);
        foreach (var l in rt.Launches)
        {
            if (l.Kernel == "conv2d_igemm_f16")
            {
                int n = l.Args.IntAt(5), o = l.Args.IntAt(9), oh = l.Args.IntAt(10), ow = l.Args.IntAt(11);
                Assert.True((long)l.Grid.X * LaunchMath.ConvTileM >= (long)n * oh * ow && (long)(l.Grid.X - 1) * LaunchMath.ConvTileM < (long)n * oh * ow);
                Assert.True(l.Grid.Y * LaunchMath.ConvTileN >= o && (l.Grid.Y - 1) * LaunchMath.ConvTileN < o);
                int k = l.Args.IntAt(12) * l.Args.IntAt(13) * l.Args.IntAt(8), kp = l.Args.IntAt(17);
                Assert.Equal(LaunchMath.PaddedK(k), kp);
                Assert.True(l.BytesLeft[1] >= (long)o * kp * 2, "packed weight too small");
                Assert.True(l.BytesLeft[4] >= (long)n * oh * ow * o * 2, "conv output too small");
            }
            if (IsPipe(l.Kernel))
            {
                var tile = Enum.GetValues<ConvTile>().Where(t => t != ConvTile.Reference)
                               .Single(t => LaunchMath.ConvKernelName(t) == l.Kernel || LaunchMath.ConvKernelName(t, gather: true) == l.Kernel);
                var (bm, bn, threads, _) = LaunchMath.ConvTileShape(tile);
                long m = (long)l.Args.IntAt(6) * l.Args.IntAt(11) * l.Args.IntAt(12);
                int o = l.Args.IntAt(10), kp = l.Args.IntAt(18), per = l.Args.IntAt(19);
                Assert.True((long)l.Grid.X * bm >= m && (long)(l.Grid.X - 1) * bm < m);
                Assert.True(l.Grid.Y * bn >= o && (l.Grid.Y - 1) * bn < o);
                Assert.Equal(threads, l.Block.X);
                Assert.Equal(LaunchMath.ConvPipeSharedBytes(tile), l.Shared);
                Assert.Equal(LaunchMath.PaddedK(l.Args.IntAt(13) * l.Args.IntAt(14) * l.Args.IntAt(9)), kp);
                // the splits cover the k-tiles exactly: none empty, none missing
                int tiles = LaunchMath.ConvKTiles(kp);
                Assert.True(l.Grid.Z * per >= tiles && (l.Grid.Z - 1) * per < tiles);
                Assert.Equal(l.Grid.Z > 1, l.Args.PointerAt(5) != IntPtr.Zero);
                if (l.Grid.Z > 1) Assert.True(l.BytesLeft[5] >= (long)l.Grid.Z * m * o * 4, "split-K workspace too small");
                Assert.True(l.BytesLeft[1] >= (long)o * kp * 2, "packed weight too small");
                int geglu = l.Args.IntAt(24);   // F of a GEGLU epilogue: y is [M][F]
                Assert.True(l.BytesLeft[4] >= m * (geglu > 0 ? geglu : o) * 2, "conv output too small");
                if (l.Args.PointerAt(21) != IntPtr.Zero)   // a concat: x holds C1 channels, x2 the rest (the gather's H, W are x's)
                {
                    int c1 = l.Args.IntAt(22), c = l.Args.IntAt(9);
                    Assert.InRange(c1, 1, c - 1);
                    Assert.True(l.BytesLeft[0] >= (long)l.Args.IntAt(6) * l.Args.IntAt(7) * l.Args.IntAt(8) * c1 * 2, "concat input a too small");
                    Assert.True(l.BytesLeft[21] >= (long)l.Args.IntAt(6) * l.Args.IntAt(7) * l.Args.IntAt(8) * (c - c1) * 2, "concat input b too small");
                }
                if (l.Args.IntAt(23) == 1)   // upsampled: x is the (H+1)/2 x (W+1)/2 image
                    Assert.True(l.BytesLeft[0] >= (long)l.Args.IntAt(6) * ((l.Args.IntAt(7) + 1) / 2) * ((l.Args.IntAt(8) + 1) / 2) * l.Args.IntAt(9) * 2, "upsampled input too small");
            }
            if (l.Kernel is "attention_f16" or "attention_mma_f16" || l.Kernel.StartsWith("attention_flash_f16_k", StringComparison.Ordinal))
            {
                int lq = l.Args.IntAt(4), lk = l.Args.IntAt(5), heads = l.Args.IntAt(6), d = l.Args.IntAt(7);
                bool flash = l.Kernel.StartsWith("attention_flash", StringComparison.Ordinal);
                int warps = l.Kernel == "attention_f16" ? l.Block.X / 32 : flash ? LaunchMath.AttentionFlashRows : LaunchMath.AttentionMmaRows;   // query rows per block
                int ldq = l.Args.IntAt(8), ldk = l.Args.IntAt(9), ldv = l.Args.IntAt(10), b = l.Grid.Z;
                // Each window's last row must end inside its buffer (pointers may start inside one: fused QKV).
                Assert.True(l.BytesLeft[0] >= ((long)(b * lq - 1) * ldq + heads * d) * 2, "q window past its buffer");
                Assert.True(l.BytesLeft[1] >= ((long)(b * lk - 1) * ldk + heads * d) * 2, "k window past its buffer");
                Assert.True(l.BytesLeft[2] >= ((long)(b * lk - 1) * ldv + heads * d) * 2, "v window past its buffer");
                Assert.True(l.BytesLeft[3] >= (long)b * lq * heads * d * 2, "attention output too small");
                Assert.True(l.Grid.X * warps >= lq && (l.Grid.X - 1) * warps < lq);
                Assert.Equal(heads, l.Grid.Y);
                Assert.Equal(l.Kernel == "attention_f16" ? LaunchMath.AttentionShared(warps, d) : 0, l.Shared);
                Assert.Equal(LaunchMath.AttentionOnTensorCores(d), l.Kernel != "attention_f16");
                if (flash)
                {
                    Assert.Equal(LaunchMath.AttentionFlashKernel(d), l.Kernel);
                    Assert.Equal(0L, (l.Args.PointerAt(0).ToInt64() | l.Args.PointerAt(1).ToInt64() | l.Args.PointerAt(2).ToInt64()) & 15);   // 16-byte cp.async rows
                    Assert.Equal(0, (l.Args.IntAt(8) | l.Args.IntAt(9) | l.Args.IntAt(10)) & 7);
                }
                else if (l.Kernel == "attention_mma_f16")
                    Assert.False(LaunchMath.AttentionOnFlash(d, l.Args.PointerAt(0), l.Args.PointerAt(1), l.Args.PointerAt(2), l.Args.IntAt(8), l.Args.IntAt(9), l.Args.IntAt(10)));
            }
        }
    }

    [Fact]
    public void LinearUsesCublasLtWhenPresent()
    {
        var rt = RunAllOps(cublas: true);
        // in = 24 twice (in = 5 is not a multiple of 8: conv-kernel fallback), and the two GEMMs of the D = 512 attention
        Assert.Equal(4, rt.LinearCalls);
        Assert.Contains(rt.Launches, l => l.Kernel == "attn_softmax_rows_f16");
        Assert.Contains(rt.Launches, l => l.Kernel.StartsWith("conv2d_pipe_", StringComparison.Ordinal) && l.Args.IntAt(9) == 5);
        Assert.Empty(rt.Live);
    }

    [Fact]
    public void WeightsAreUploadedOncePerObject()
    {
        var rt = new FakeGpuRuntime();
        using var ops = new CudaOps(rt, ownsRuntime: false);
        var w = Rand(1, 8, 4, 3, 3); var b = Rand(2, 8);
        using var x = ops.Upload(Rand(3, 1, 6, 6, 4));
        ops.Conv2d(x, w, b, 1, Pad2d.Same(1)).Dispose();
        int live = rt.Live.Count;
        ops.Conv2d(x, w, b, 1, Pad2d.Same(1)).Dispose();
        Assert.Equal(live, rt.Live.Count);
        ops.Conv2d(x, w.Clone(), b, 1, Pad2d.Same(1)).Dispose();   // another object: another upload
        Assert.Equal(live + 1, rt.Live.Count);
    }

    [Fact]
    public void BadShapesThrowOneLineErrorsNamingTheOp()
    {
        var rt = new FakeGpuRuntime();
        using var ops = new CudaOps(rt, ownsRuntime: false);
        using var x = ops.Upload(Rand(1, 1, 4, 4, 3));
        var e = Assert.Throws<PisaException>(() => ops.Conv2d(x, Rand(2, 8, 5, 3, 3), null, 1, Pad2d.Same(1)));
        Assert.Contains("conv2d", e.Message);
        Assert.Contains("1, 4, 4, 3", e.Message);
        using var q = ops.Upload(Rand(3, 1, 2, 1026));
        Assert.Throws<PisaException>(() => ops.Attention(q, q, q, 2, false));   // head dim 513
        Assert.Throws<PisaException>(() => ops.GroupNorm(x, Rand(4, 3), Rand(5, 3), 2, 1e-5f, false));
        Assert.Throws<PisaException>(() => ops.CropSpatial(x, 0, 5, 0, 1));
    }

    [Fact]
    public void FlatLaunchesRefuseCountsThatOverflowTheGridStrideIndex()
    {
        var rt = new FakeGpuRuntime();
        var k = new PiSa.Engine.Backends.Cuda.CudaKernels(rt);
        IntPtr p = rt.Alloc(16);
        k.Unary("silu_f16", p, p, 1 << 30);   // i + stride stays below 2^31
        Assert.Single(rt.Launches);
        Assert.Throws<PisaException>(() => k.Unary("silu_f16", p, p, int.MaxValue - 1000));
        Assert.Throws<PisaException>(() => k.Axpby(p, p, p, int.MaxValue - (1 << 27), 1f, 1f));
        Assert.Single(rt.Launches);
    }
}
