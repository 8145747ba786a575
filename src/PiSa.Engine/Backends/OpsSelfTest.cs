using PiSa.Engine.Tensors;

namespace PiSa.Engine.Backends;

/// <summary>Outcome of one op on one input case: relative L2 error of candidate vs reference.</summary>
public sealed record OpCheck(string Op, string Case, double RelL2, double Tolerance, bool Passed, string? Error = null)
{
    public override string ToString() =>
        $"{(Passed ? "PASS" : "FAIL")} {Op,-18} {Case,-44} relL2 {RelL2:E2} (tol {Tolerance:E0}){(Error is null ? "" : "  " + Error)}";
}

/// <summary>
/// Backend-agnostic op checker: runs every <see cref="IOps"/> member on random non-zero inputs of
/// tiny and (optionally) SD2.1-sized shapes on a reference backend (the float32 CPU one) and a
/// candidate (CUDA), and reports per case the relative L2 error ||cand - ref|| / ||ref||.
/// Before each candidate op a NaN-filled tensor of the output's size is uploaded and disposed, so a
/// pooling backend is likely to hand that memory to the output: elements a kernel forgets to write
/// then show up as NaN and fail the case. Uses only the IOps interface.
/// </summary>
public static class OpsSelfTest
{
    /// <summary>fp16 storage with fp32 accumulation: about 1e-2 relative L2 for compute ops.</summary>
    public const double ComputeTolerance = 1e-2;
    /// <summary>Pure data movement only suffers the fp16 rounding of the inputs (about 3e-4).</summary>
    public const double CopyTolerance = 2e-3;

    /// <param name="only">when given, only the ops (OpCheck.Op names such as "Linear") it accepts are run.</param>
    public static IReadOnlyList<OpCheck> Run(IOps reference, IOps candidate, bool includeLarge = true, int seed = 1234, Action<OpCheck>? progress = null,
                                             Func<string, bool>? only = null)
    {
        var t = new Runner(reference, candidate, new Random(seed), progress, only);
        t.All(includeLarge);
        // The checks are a stage of their own; the SD 2.1-size cases leave large arrays for reuse: give them back.
        reference.EndStage();
        candidate.EndStage();
        reference.ReleaseCachedMemory();
        candidate.ReleaseCachedMemory();
        return t.Results;
    }

    public static string Format(IReadOnlyList<OpCheck> results)
    {
        var lines = results.Select(r => r.ToString()).ToList();
        int failed = results.Count(r => !r.Passed);
        lines.Add($"{results.Count - failed}/{results.Count} passed, worst relL2 {results.Where(r => !double.IsNaN(r.RelL2)).DefaultIfEmpty().Max(r => r?.RelL2 ?? 0):E2}");
        return string.Join(Environment.NewLine, lines);
    }

    private sealed class Runner(IOps refOps, IOps cand, Random rng, Action<OpCheck>? progress, Func<string, bool>? only)
    {
        public readonly List<OpCheck> Results = new();

        private HostTensor R(params int[] shape) => R(1f, shape);

        /// <summary>Uniform in ±scale, nudged away from zero so no input is accidentally zero.</summary>
        private HostTensor R(float scale, params int[] shape)
        {
            var h = new HostTensor(shape);
            for (int i = 0; i < h.Data.Length; i++)
            {
                float u = (float)(rng.NextDouble() * 2 - 1);
                h.Data[i] = scale * (u + (u >= 0 ? 0.05f : -0.05f)) / 1.05f;
            }
            return h;
        }

        private HostTensor Pos(params int[] shape)   // e.g. a gamma near 1
        {
            var h = R(0.5f, shape);
            for (int i = 0; i < h.Data.Length; i++) h.Data[i] += 1f;
            return h;
        }

        private void Add(OpCheck c) { Results.Add(c); progress?.Invoke(c); }

        private static double RelL2(ReadOnlySpan<float> got, ReadOnlySpan<float> want)
        {
            double num = 0, den = 0;
            for (int i = 0; i < want.Length; i++)
            {
                double d = (double)got[i] - want[i];
                num += d * d;
                den += (double)want[i] * want[i];
            }
            if (double.IsNaN(num)) return double.NaN;
            return Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 1e-30);
        }

        private static void Poison(IOps ops, int[] shape)
        {
            var nan = new HostTensor(shape);
            Array.Fill(nan.Data, float.NaN);
            ops.Upload(nan).Dispose();
        }

        private HostTensor RunOn(IOps ops, HostTensor[] inputs, Func<IOps, DeviceTensor[], DeviceTensor> f, int[]? poisonShape)
        {
            var dev = new DeviceTensor[inputs.Length];
            try
            {
                for (int i = 0; i < inputs.Length; i++) dev[i] = ops.Upload(inputs[i]);
                if (poisonShape is not null) Poison(ops, poisonShape);
                using var y = f(ops, dev);
                ops.Synchronize();
                return ops.Download(y);
            }
            finally { foreach (var d in dev) d?.Dispose(); }
        }

        /// <summary>Checks one tensor-valued op; inputs are uploaded to both backends, parameters captured by f.</summary>
        public void Check(string op, string name, double tol, HostTensor[] inputs, Func<IOps, DeviceTensor[], DeviceTensor> f)
        {
            if (only is not null && !only(op)) return;
            try
            {
                HostTensor want = RunOn(refOps, inputs, f, null);
                HostTensor got = RunOn(cand, inputs, f, want.Shape);
                if (!ShapeUtil.Equal(want.Shape, got.Shape))
                {
                    Add(new OpCheck(op, name, double.NaN, tol, false, $"shape [{ShapeUtil.Format(got.Shape)}] vs reference [{ShapeUtil.Format(want.Shape)}]"));
                    return;
                }
                double e = RelL2(got.Data, want.Data);
                Add(new OpCheck(op, name, e, tol, e <= tol));
            }
            catch (Exception ex) { Add(new OpCheck(op, name, double.NaN, tol, false, ex.GetType().Name + ": " + ex.Message)); }
        }

        private void CheckStats(string name, HostTensor x, int groups)
        {
            if (only is not null && !only("GroupNormStats")) return;
            try
            {
                float[] Stats(IOps ops) { using var d = ops.Upload(x); return ops.GroupNormStats(d, groups); }
                float[] want = Stats(refOps), got = Stats(cand);
                if (want.Length != got.Length) { Add(new OpCheck("GroupNormStats", name, double.NaN, ComputeTolerance, false, $"{got.Length} values vs {want.Length}")); return; }
                double e = RelL2(got, want);
                Add(new OpCheck("GroupNormStats", name, e, ComputeTolerance, e <= ComputeTolerance));
            }
            catch (Exception ex) { Add(new OpCheck("GroupNormStats", name, double.NaN, ComputeTolerance, false, ex.GetType().Name + ": " + ex.Message)); }
        }

        private static string Sh(params int[] s) => "[" + string.Join(",", s) + "]";

        /// <summary>CountNonFinite on random values with <paramref name="bad"/> NaN / +inf / -inf planted at seeded
        /// positions (always the last element among them, so a missed tail shows) and the largest finite fp16
        /// values mixed in (a false positive shows). Both backends must return exactly the planted count.</summary>
        private void CheckNonFinite(string name, int bad, params int[] shape)
        {
            const string op = "CountNonFinite";
            try
            {
                var x = R(shape);
                int n = x.Data.Length;
                for (int i = 0; i < Math.Min(n, 16); i++) x.Data[rng.Next(n)] = i % 2 == 0 ? 65504f : -65504f;
                var at = new HashSet<int>();
                if (bad > 0) at.Add(n - 1);
                while (at.Count < bad) at.Add(rng.Next(n));
                int k = 0;
                foreach (int i in at) x.Data[i] = (k++ % 3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
                long Count(IOps ops) { using var d = ops.Upload(x); return ops.CountNonFinite(d); }
                long want = Count(refOps), got = Count(cand);
                // The planted count is the truth; the reference must find it too (else the case itself is wrong).
                string counted = want == bad ? $"{got} counted" : $"{got} counted, reference {want}";
                Add(new OpCheck(op, $"{name}: {counted}", Math.Abs(got - bad) / Math.Max(1.0, bad), 0, got == bad && want == bad));
            }
            catch (Exception ex) { Add(new OpCheck(op, name, double.NaN, 0, false, ex.GetType().Name + ": " + ex.Message)); }
        }

        public void All(bool large)
        {
            const double C = ComputeTolerance, M = CopyTolerance;

            // ---- transfers ----
            foreach (var s in new[] { new[] { 3, 5 }, new[] { 1, 7, 9, 3 } })
                Check("Upload/Download", Sh(s), M, [R(s)], (o, d) => o.ScaleShift(d[0], 1f, 0f));
            Check("Reshape", "[2,6,4]->[12,4]", M, [R(2, 6, 4)], (o, d) => { using var v = o.Reshape(d[0], 12, 4); return o.ScaleShift(v, 1f, 0f); });

            // ---- conv ----
            void Conv(string name, int[] x, int o, int k, int stride, Pad2d pad, bool bias, bool residual)
            {
                var w = R(1f / MathF.Sqrt(x[3] * k * k), o, x[3], k, k);
                var b = bias ? R(o) : null;
                int oh = (x[1] + pad.Top + pad.Bottom - k) / stride + 1, ow = (x[2] + pad.Left + pad.Right - k) / stride + 1;
                HostTensor[] ins = residual ? [R(x), R(x[0], oh, ow, o)] : [R(x)];
                Check("Conv2d", name, C, ins, (ops, d) => ops.Conv2d(d[0], w, b, stride, pad, residual ? d[1] : null));
            }
            Conv("[1,5,7,3] 3x3 ->4 pad1 bias", [1, 5, 7, 3], 4, 3, 1, Pad2d.Same(1), true, false);
            Conv("[2,8,8,16] 3x3 s2 pad(0,1,0,1) ->16", [2, 8, 8, 16], 16, 3, 2, new Pad2d(0, 1, 0, 1), false, false);
            Conv("[1,6,5,16] 1x1 ->70 bias+res", [1, 6, 5, 16], 70, 1, 1, Pad2d.Same(0), true, true);
            Conv("[1,9,9,4] 3x3 ->8 s2 pad1 bias", [1, 9, 9, 4], 8, 3, 2, Pad2d.Same(1), true, false);
            if (large)
            {
                Conv("[1,64,64,320] 3x3 ->320 bias+res", [1, 64, 64, 320], 320, 3, 1, Pad2d.Same(1), true, true);
                Conv("[1,64,64,4] 3x3 ->320 bias", [1, 64, 64, 4], 320, 3, 1, Pad2d.Same(1), true, false);
                Conv("[1,64,64,320] 3x3 s2 ->320", [1, 64, 64, 320], 320, 3, 2, Pad2d.Same(1), true, false);
                Conv("[1,128,128,256] 1x1 ->512", [1, 128, 128, 256], 512, 1, 1, Pad2d.Same(0), true, false);
            }

            // ---- linear ----
            void Lin(string name, int[] x, int outF, bool bias, bool residual)
            {
                var w = R(1f / MathF.Sqrt(x[^1]), outF, x[^1]);
                var b = bias ? R(outF) : null;
                var ys = (int[])x.Clone(); ys[^1] = outF;
                HostTensor[] ins = residual ? [R(x), R(ys)] : [R(x)];
                Check("Linear", name, C, ins, (ops, d) => ops.Linear(d[0], w, b, residual ? d[1] : null));
            }
            Lin("[2,9,24]->40 bias", [2, 9, 24], 40, true, false);
            Lin("[3,5]->7 bias+res", [3, 5], 7, true, true);
            Lin("[1,10,16]->16", [1, 10, 16], 16, false, false);
            if (large)
            {
                Lin("[2,4096,320]->1280 bias", [2, 4096, 320], 1280, true, false);
                Lin("[2,77,1024]->320", [2, 77, 1024], 320, false, false);
                Lin("[2,4096,1280]->320 bias+res", [2, 4096, 1280], 320, true, true);
            }

            FusedCompositions(large);

            // ---- norms ----
            void Gn(string name, int[] x, int groups, bool silu)
            {
                int c = x[^1];
                var g = Pos(c); var b = R(c);
                var xs = R(x);
                for (int i = 0; i < xs.Data.Length; i++) xs.Data[i] = xs.Data[i] * 2f + 0.5f;   // non-zero mean
                Check("GroupNorm", name + (silu ? " silu" : ""), C, [xs], (o, d) => o.GroupNorm(d[0], g, b, groups, 1e-6f, silu));
                CheckStats(name, xs, groups);
                Check("GroupNormApply", name, C, [xs], (o, d) =>
                {
                    float[] mv = o.GroupNormStats(d[0], groups);
                    return o.GroupNormApply(d[0], mv, g, b, groups, 1e-6f, silu);
                });
            }
            Gn("[2,8,8,16] g4", [2, 8, 8, 16], 4, true);
            Gn("[2,9,24] g8", [2, 9, 24], 8, false);
            Gn("[1,5,3,4] g2", [1, 5, 3, 4], 2, true);
            if (large)
            {
                Gn("[1,64,64,512] g32", [1, 64, 64, 512], 32, false);
                Gn("[2,64,64,320] g32", [2, 64, 64, 320], 32, true);
            }
            void Ln(string name, int[] x)
            {
                int c = x[^1];
                var g = Pos(c); var b = R(c);
                Check("LayerNorm", name, C, [R(x)], (o, d) => o.LayerNorm(d[0], g, b, 1e-5f));
            }
            Ln("[2,9,24]", [2, 9, 24]);
            Ln("[1,3,5]", [1, 3, 5]);
            if (large) Ln("[2,4096,320]", [2, 4096, 320]);

            // ---- attention ----
            // q, k and v are always three distinct random tensors (one tensor passed three times cannot tell a
            // kernel that swaps K and V, or reads q where it should read k). q is scaled up so the softmax is
            // peaked (score std about 1) rather than nearly uniform, which would make the output barely depend
            // on q and k. Lq != Lk wherever the case is not a model shape with Lq = Lk by nature (SD self-attention).
            void Att(string name, int b, int lq, int lk, int heads, int d, bool causal)
            {
                HostTensor[] ins = [R(3f, b, lq, heads * d), R(b, lk, heads * d), R(b, lk, heads * d)];
                Check("Attention", name + (causal ? " causal" : ""), C, ins, (o, t) => o.Attention(t[0], t[1], t[2], heads, causal));
            }
            Att("B1 Lq10 Lk13 H2 D4", 1, 10, 13, 2, 4, false);
            Att("B2 Lq33 Lk77 H3 D8", 2, 33, 77, 3, 8, false);
            Att("B1 Lq40 Lk37 H1 D64", 1, 40, 37, 1, 64, true);
            Att("B1 Lq29 Lk45 H2 D40", 1, 29, 45, 2, 40, true);
            Att("B1 Lq7 Lk5 H1 D512", 1, 7, 5, 1, 512, false);
            Att("B2 Lq77 Lk77 H2 D32 (CLIP)", 2, 77, 77, 2, 32, true);
            if (large)
            {
                Att("B1 Lq4096 Lk4096 H1 D512 (VAE)", 1, 4096, 4096, 1, 512, false);
                Att("B2 Lq4096 Lk4096 H5 D64", 2, 4096, 4096, 5, 64, false);
                Att("B2 Lq4096 Lk77 H5 D64", 2, 4096, 77, 5, 64, false);
            }

            // ---- activations and elementwise ----
            var ew = large ? new[] { new[] { 2, 5, 7, 3 }, new[] { 2, 64, 64, 320 } } : [new[] { 2, 5, 7, 3 }];
            foreach (var s in ew)
            {
                string n = Sh(s);
                Check("Silu", n, C, [R(3f, s)], (o, d) => o.Silu(d[0]));
                Check("Gelu", n, C, [R(3f, s)], (o, d) => o.Gelu(d[0]));
                Check("Axpby", n, C, [R(s), R(s)], (o, d) => o.Axpby(d[0], d[1], 0.7f, -1.3f));
                Check("ScaleShift", n, C, [R(s)], (o, d) => o.ScaleShift(d[0], 2.5f, -0.25f));
                Check("Clamp", n, C, [R(2f, s)], (o, d) => o.Clamp(d[0], -1f, 0.5f));
            }
            Check("Geglu", "[2,9,48]", C, [R(2f, 2, 9, 48)], (o, d) => o.Geglu(d[0]));
            Check("Geglu", "[1,3,6]", C, [R(2f, 1, 3, 6)], (o, d) => o.Geglu(d[0]));
            if (large) Check("Geglu", "[2,4096,2560]", C, [R(2f, 2, 4096, 2560)], (o, d) => o.Geglu(d[0]));
            Check("AddChannelVector", "[2,5,7,3]+[2,3]", C, [R(2, 5, 7, 3), R(2, 3)], (o, d) => o.AddChannelVector(d[0], d[1]));
            Check("AddChannelVector", "[2,9,24]+[1,24]", C, [R(2, 9, 24), R(1, 24)], (o, d) => o.AddChannelVector(d[0], d[1]));
            if (large) Check("AddChannelVector", "[2,64,64,320]+[2,320]", C, [R(2, 64, 64, 320), R(2, 320)], (o, d) => o.AddChannelVector(d[0], d[1]));

            // ---- checks ----
            CheckNonFinite("[2,5,7,3] 7 planted", 7, 2, 5, 7, 3);
            CheckNonFinite("[3,257] 1 planted (last)", 1, 3, 257);
            CheckNonFinite("[1,9,24] none", 0, 1, 9, 24);
            if (large) CheckNonFinite("[2,64,64,320] 100 planted", 100, 2, 64, 64, 320);

            // ---- shape ----
            Check("UpsampleNearest2x", "[2,3,5,3]", M, [R(2, 3, 5, 3)], (o, d) => o.UpsampleNearest2x(d[0]));
            if (large) Check("UpsampleNearest2x", "[1,32,32,1280]", M, [R(1, 32, 32, 1280)], (o, d) => o.UpsampleNearest2x(d[0]));
            Check("ConcatChannels", "[2,4,3,5]++[2,4,3,3]", M, [R(2, 4, 3, 5), R(2, 4, 3, 3)], (o, d) => o.ConcatChannels(d[0], d[1]));
            if (large) Check("ConcatChannels", "[2,64,64,320]++[2,64,64,640]", M, [R(2, 64, 64, 320), R(2, 64, 64, 640)], (o, d) => o.ConcatChannels(d[0], d[1]));
            Check("SliceChannels", "[2,9,24][5,+11]", M, [R(2, 9, 24)], (o, d) => o.SliceChannels(d[0], 5, 11));
            Check("CropSpatial", "[2,9,8,3] rows1-7 cols2-5", M, [R(2, 9, 8, 3)], (o, d) => o.CropSpatial(d[0], 1, 7, 2, 5));

            KernelShapeClasses(Conv, Lin, Gn, Att);
        }

        /// <summary>
        /// The shape classes the kernels treat specially, each small enough for the PTX interpreter: conv tiles partial
        /// in both GEMM dimensions (M and O not multiples of 64 or 128, K not a multiple of the 32-wide k tile), the scalar
        /// gather (C % 8 != 0, C = 3) and the 16-byte one (C = 8: the k walk crosses a tap every chunk; C = 64), stride 2 with asymmetric padding, 1x1 and 3x3; linear layers
        /// whose inF % 8 != 0 (the implicit-GEMM fallback instead of cuBLASLt); attention with distinct q, k and v,
        /// causal or not, head dims 8 to 64 and 512 (at small L), lengths that are not multiples of the 32- and 64-key
        /// tiles, several key tiles and query blocks (the flash kernel's double buffer);
        /// group norm in one launch with more elements than threads (not a multiple of them) and in two launches (a group
        /// over LaunchMath.GroupNormFusedMaxElements) whose pixel chunks are uneven (the last one shorter).
        /// </summary>
        private void KernelShapeClasses(Action<string, int[], int, int, int, Pad2d, bool, bool> conv,
                                        Action<string, int[], int, bool, bool> lin, Action<string, int[], int, bool> gn,
                                        Action<string, int, int, int, int, int, bool> att)
        {
            conv("[1,9,11,3] 3x3 ->70 pad1 bias (C=3, partial M and O)", [1, 9, 11, 3], 70, 3, 1, Pad2d.Same(1), true, false);
            conv("[1,10,9,12] 3x3 s2 pad(0,1,0,1) ->20 bias+res (C%8=4)", [1, 10, 9, 12], 20, 3, 2, new Pad2d(0, 1, 0, 1), true, true);
            conv("[2,7,9,24] 1x1 ->136 bias+res (16-byte gather)", [2, 7, 9, 24], 136, 1, 1, Pad2d.Same(0), true, true);
            conv("[1,12,13,40] 3x3 ->72 pad1 (K=360, partial k tile)", [1, 12, 13, 40], 72, 3, 1, Pad2d.Same(1), false, false);
            conv("[1,11,11,16] 3x3 s2 pad1 ->8 bias", [1, 11, 11, 16], 8, 3, 2, Pad2d.Same(1), true, false);
            conv("[1,4,5,12] 2x2 s2 ->7 (even kernel, odd O)", [1, 4, 5, 12], 7, 2, 2, Pad2d.Same(0), false, false);
            conv("[1,6,7,8] 3x3 ->24 pad1 bias (C=8: one 16-byte chunk per tap)", [1, 6, 7, 8], 24, 3, 1, Pad2d.Same(1), true, false);
            conv("[1,9,15,64] 3x3 ->136 pad1 bias+res (C=64, O past 128, M past 128)", [1, 9, 15, 64], 136, 3, 1, Pad2d.Same(1), true, true);
            lin("[1,70,20]->130 bias+res (inF%8=4: conv fallback)", [1, 70, 20], 130, true, true);
            lin("[2,37,48]->72 bias+res", [2, 37, 48], 72, true, true);
            att("B1 L45 H2 D40", 1, 45, 45, 2, 40, false);
            att("B1 L50 H1 D64", 1, 50, 50, 1, 64, true);
            att("B2 Lq37 Lk45 H2 D64", 2, 37, 45, 2, 64, false);
            att("B1 Lq9 Lk13 H1 D512", 1, 9, 13, 1, 512, false);
            att("B1 L33 H1 D512", 1, 33, 33, 1, 512, true);
            att("B1 Lq65 Lk40 H1 D64", 1, 65, 40, 1, 64, true);
            // The flash kernel (64-row query blocks, 64-key tiles double-buffered): three or more key tiles so each
            // smem stage is refilled, query blocks past the first, tails in both lengths, every KC = ceil(D/16).
            att("B1 Lq70 Lk150 H5 D16 (3 key tiles)", 1, 70, 150, 5, 16, false);
            att("B2 L130 H2 D64 (3 query blocks, 3 key tiles)", 2, 130, 130, 2, 64, true);
            att("B1 Lq20 Lk200 H8 D8", 1, 20, 200, 8, 8, false);
            att("B1 Lq129 Lk65 H1 D48", 1, 129, 65, 1, 48, false);
            att("B1 L100 H2 D24", 1, 100, 100, 2, 24, true);
            // One large head (GEMM - softmax - GEMM on the CUDA backend when it has cuBLASLt): batch 2, keys padded to 8.
            att("B2 Lq40 Lk27 H1 D256", 2, 40, 27, 1, 256, false);
            gn("[1,50,47,32] g4 (one launch, 18 800 per group)", [1, 50, 47, 32], 4, true);
            gn("[1,50,47,32] g1 (two launches, uneven chunks)", [1, 50, 47, 32], 1, false);
            AttentionWindowCases();
            // Replayable: the third call of one key is a graph replay on the CUDA backend, which records graphs for
            // this case whatever PISA_CUDA_GRAPHS says (so a GPU's selftest checks its driver's graphs), and fails it
            // if the recording failed (the backend would otherwise have fallen back to plain launches).
            Check("Replayable", "third call of a key (a CUDA graph replay)", ComputeTolerance, [R(1, 6, 7, 16)], (o, t) =>
            {
                var key = new object();
                DeviceTensor F(DeviceTensor x) { using var s = o.Silu(x); return o.Axpby(s, x, 0.75f, -0.5f); }
                var cuda = o as Cuda.CudaOps;
                bool graphsWere = cuda?.UseGraphs ?? false;
                if (cuda != null) cuda.UseGraphs = true;
                try
                {
                    for (int i = 0; i < 2; i++) o.Replayable(key, t[0], F).Dispose();
                    var y = o.Replayable(key, t[0], F);
                    if (cuda?.GraphFailure is string why) { y.Dispose(); throw new PisaException(why); }
                    return y;
                }
                finally { if (cuda != null) cuda.UseGraphs = graphsWere; }
            });
        }

        /// <summary>
        /// The fused compositions (the reference runs IOps' defaults, a fusing backend folds the intermediate away): GEGLU
        /// with F a multiple of 8 or not (the packed groups' zero tail), inF % 8 != 0 (the scalar gather), more packed
        /// columns than one 128-wide tile; the upsampled conv at 2x and at the UNet's cropped 2x - 1, C = 3 and C % 8 != 0;
        /// the concat conv with C1 % 8 == 0 (16-byte chunks from both tensors) and C1 % 8 != 0 (scalar), 1x1 and 3x3,
        /// bias and residual; M past 128 in each; the concat GroupNorm with groups across the two tensors.
        /// </summary>
        private void FusedCompositions(bool large)
        {
            const double C = ComputeTolerance;
            void LinGeglu(string name, int[] x, int f, bool bias)
            {
                var w = R(1f / MathF.Sqrt(x[^1]), 2 * f, x[^1]);
                var b = bias ? R(2 * f) : null;
                Check("LinearGeglu", name, C, [R(x)], (o, d) => o.LinearGeglu(d[0], w, b));
            }
            LinGeglu("[2,9,24]->2x40 bias", [2, 9, 24], 40, true);
            LinGeglu("[1,70,100]->2x13 bias (F%8=5, inF%8=4)", [1, 70, 100], 13, true);
            LinGeglu("[1,130,96]->2x72 (M past 128, 144 packed columns)", [1, 130, 96], 72, false);
            if (large) LinGeglu("[2,4096,320]->2x1280 bias", [2, 4096, 320], 1280, true);

            void ConvUp(string name, int[] x, int upH, int upW, int o, int k, Pad2d pad, bool bias)
            {
                var w = R(1f / MathF.Sqrt(x[3] * k * k), o, x[3], k, k);
                var b = bias ? R(o) : null;
                Check("Conv2dUpsampled", name, C, [R(x)], (ops, d) => ops.Conv2dUpsampled(d[0], upH, upW, w, b, 1, pad));
            }
            ConvUp("[1,4,5,16] ->8x10 3x3 ->24 pad1 bias", [1, 4, 5, 16], 8, 10, 24, 3, Pad2d.Same(1), true);
            ConvUp("[2,3,4,12] ->5x7 (cropped) 3x3 ->20 pad1 (C%8=4)", [2, 3, 4, 12], 5, 7, 20, 3, Pad2d.Same(1), false);
            ConvUp("[1,5,5,3] ->9x10 3x3 ->8 pad1 bias (C=3)", [1, 5, 5, 3], 9, 10, 8, 3, Pad2d.Same(1), true);
            ConvUp("[1,6,7,32] ->12x13 3x3 ->72 pad1 bias (M past 128)", [1, 6, 7, 32], 12, 13, 72, 3, Pad2d.Same(1), true);
            if (large) ConvUp("[1,32,32,1280] ->64x64 3x3 ->1280 pad1 bias", [1, 32, 32, 1280], 64, 64, 1280, 3, Pad2d.Same(1), true);

            void ConvCat(string name, int[] a, int cb, int o, int k, Pad2d pad, bool bias, bool residual)
            {
                int c = a[3] + cb;
                var w = R(1f / MathF.Sqrt(c * k * k), o, c, k, k);
                var b = bias ? R(o) : null;
                int oh = a[1] + pad.Top + pad.Bottom - k + 1, ow = a[2] + pad.Left + pad.Right - k + 1;
                HostTensor[] ins = residual ? [R(a), R(a[0], a[1], a[2], cb), R(a[0], oh, ow, o)] : [R(a), R(a[0], a[1], a[2], cb)];
                Check("Conv2dConcat", name, C, ins, (ops, d) => ops.Conv2dConcat(d[0], d[1], w, b, 1, pad, residual ? d[2] : null));
            }
            ConvCat("[1,6,7,16]++8 3x3 ->24 pad1 bias", [1, 6, 7, 16], 8, 24, 3, Pad2d.Same(1), true, false);
            ConvCat("[2,5,4,16]++24 1x1 ->40 bias+res", [2, 5, 4, 16], 24, 40, 1, Pad2d.Same(0), true, true);
            ConvCat("[1,5,6,12]++4 3x3 ->20 pad1 (C1%8=4: scalar)", [1, 5, 6, 12], 4, 20, 3, Pad2d.Same(1), false, false);
            ConvCat("[1,9,15,32]++32 3x3 ->136 pad1 bias+res (M, O past 128)", [1, 9, 15, 32], 32, 136, 3, Pad2d.Same(1), true, true);
            if (large) ConvCat("[1,64,64,640]++320 1x1 ->320 bias", [1, 64, 64, 640], 320, 320, 1, Pad2d.Same(0), true, false);

            // GroupNorm of a concat: groups straddling the two tensors, one launch and two (a big group), NHWC and [B, L, C].
            void GnCat(string name, int[] a, int cb, int groups, bool silu)
            {
                int c = a[^1] + cb;
                var g = Pos(c); var be = R(c);
                var bs = (int[])a.Clone(); bs[^1] = cb;
                var xa = R(a); var xb = R(bs);
                foreach (var t in new[] { xa, xb })
                    for (int i = 0; i < t.Data.Length; i++) t.Data[i] = t.Data[i] * 2f + 0.5f;   // non-zero mean
                Check("GroupNormConcat", name + (silu ? " silu" : ""), C, [xa, xb], (o, d) => o.GroupNormConcat(d[0], d[1], g, be, groups, 1e-5f, silu));
            }
            GnCat("[2,6,5,10]++22 g8 (group 2 straddles)", [2, 6, 5, 10], 22, 8, true);
            GnCat("[2,9,7]++17 g8 ([B,L,C])", [2, 9, 7], 17, 8, false);
            GnCat("[1,50,47,12]++20 g1 (two launches)", [1, 50, 47, 12], 20, 1, true);
            if (large) GnCat("[2,64,64,640]++320 g32", [2, 64, 64, 640], 320, 32, true);
        }

        /// <summary>Attention on channel windows, as the models call it: a fused QKV output read in place (self) and a
        /// query against a fused KV context with the v window first, an odd row stride and spare channels (rows that
        /// are not 16-byte aligned: the CUDA backend's non-cp.async tensor-core version).</summary>
        private void AttentionWindowCases()
        {
            const double C = ComputeTolerance;
            Check("AttentionWindows", "fused QKV B1 L90 H5 D64 (UNet-like, flash)", C, [R(1, 90, 3 * 320)],
                  (o, t) => o.AttentionWindows(t[0], 0, t[0], 320, 640, 320, 5, false));
            Check("AttentionWindows", "q + fused KV B2 Lq70 Lk77 H2 D32 (cross, v first)", C, [R(3f, 2, 70, 64), R(2, 77, 128)],
                  (o, t) => o.AttentionWindows(t[0], 0, t[1], 64, 0, 64, 2, false));
            Check("AttentionWindows", "fused QKV B2 L37 H2 D40", C, [R(2, 37, 3 * 80)],
                  (o, t) => o.AttentionWindows(t[0], 0, t[0], 80, 160, 80, 2, false));
            Check("AttentionWindows", "fused QKV B1 L45 H1 D64 causal", C, [R(1, 45, 3 * 64)],
                  (o, t) => o.AttentionWindows(t[0], 0, t[0], 64, 128, 64, 1, true));
            Check("AttentionWindows", "q + fused KV B1 Lq33 Lk19 H3 D8 (v first, ld 51)", C, [R(1, 33, 24), R(1, 19, 51)],
                  (o, t) => o.AttentionWindows(t[0], 0, t[1], 27, 1, 24, 3, false));
        }
    }
}
