using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Models.Unet;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;
using static PiSa.Tests.Models.UnetClip.UnetClipFixtures;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// The graph path of CudaOps (IOps.Replayable: warm-up, record on graph-owned memory, replay with the input copied in)
/// on the PTX runtime, which records launch lists under the same rules as a CUDA stream capture. A replay must give
/// bit-identical results to running the same work plainly, for new input values, and leave no memory behind.
/// </summary>
public sealed class GraphReplayOnInterpreterTests
{
    private static HostTensor Rand(int seed, params int[] shape)
    {
        var r = new Random(seed);
        var t = new HostTensor(shape);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(r.NextDouble() * 2 - 1);
        return t;
    }

    [InterpreterFact]
    public void Replays_match_plain_runs_for_new_inputs_and_release_their_memory()
    {
        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt) { UseGraphs = true };
        var gamma = Rand(1, 16); var beta = Rand(2, 16);
        DeviceTensor F(DeviceTensor t)
        {
            using var n = ops.GroupNorm(t, gamma, beta, 4, 1e-6f, silu: true);
            using var s = ops.Reshape(n, 1, 63, 16);
            using var a = ops.Attention(s, s, s, 2, causal: false);
            using var v = ops.Reshape(a, 1, 7, 9, 16);
            return ops.Axpby(v, t, 0.5f, 2f);
        }
        using (var x0 = ops.Upload(Rand(9, 1, 7, 9, 16)))
        using (var y0 = F(x0)) { }                          // uploads gamma and beta (kept by the weight cache)
        int liveBefore = rt.Memory.LiveAllocations;
        var results = new List<float[]>();
        var plain = new List<float[]>();
        for (int i = 0; i < 4; i++)
        {
            using var x = ops.Upload(Rand(10 + i, 1, 7, 9, 16));
            using (var y = ops.Replayable("f", x, F)) results.Add(ops.Download(y).Data);
            ops.UseGraphs = false;
            using (var y = ops.Replayable("f", x, F)) plain.Add(ops.Download(y).Data);
            ops.UseGraphs = true;
        }
        Assert.Equal(1, ops.GraphsRecorded);
        Assert.Equal(3, ops.GraphReplays);                   // calls 2, 3 and 4
        // gn_fused_f16, the attention kernel, axpby_f16 (GroupNorm was three launches before it was fused)
        Assert.True(ops.LastGraphLaunches >= 3, $"{ops.LastGraphLaunches} launches recorded");
        for (int i = 0; i < 4; i++) Assert.Equal(plain[i], results[i]);
        Assert.NotEqual(results[2], results[3]);             // the replay saw the new input

        ops.DropGraphs();
        Assert.Equal(liveBefore, rt.Memory.LiveAllocations); // graph memory released, nothing else lost
    }

    /// <summary>A graph holds the addresses of the weights it read. Once one is released (an idle weight set, the text
    /// encoder after the prompt) its memory may hold anything, so the graph must not replay: the free makes it stale
    /// (GpuGraph.Stale), CudaOps drops it and the next call runs plainly, uploading the weight again. Before, the replay read the freed gamma (the interpreter
    /// refuses a pointer into no live allocation).</summary>
    [InterpreterFact]
    public void Releasing_a_weight_drops_the_graphs_that_read_it()
    {
        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt) { UseGraphs = true };
        var gamma = Rand(1, 16); var beta = Rand(2, 16);
        DeviceTensor F(DeviceTensor t) => ops.GroupNorm(t, gamma, beta, 4, 1e-6f, silu: true);
        using var x = ops.Upload(Rand(9, 1, 7, 9, 16));
        float[] Call() { using var y = ops.Replayable("f", x, F); return ops.Download(y).Data; }
        var want = Call();                                   // warm-up: uploads gamma and beta
        Assert.Equal(want, Call());                          // recorded and replayed
        Assert.Equal(1, ops.GraphsRecorded);
        Assert.True(((IWeightRelease)ops).ReleaseWeights([gamma]) > 0);
        Assert.Equal(0, ops.GraphsInvalidated);              // noticed at the next call
        using (var filler = ops.Upload(Rand(4, 1, 4, 4, 2))) { }   // something else may take the freed memory
        Assert.Equal(want, Call());                          // runs plainly again: gamma uploaded again
        Assert.Equal(1, ops.GraphsInvalidated);
        Assert.Equal(want, Call());                          // recorded anew (and replayed)
        Assert.Equal(2, ops.GraphsRecorded);
        Assert.Equal(want, Call());
        Assert.Equal(3, ops.GraphReplays);
    }

    /// <summary>A cross-attention caches the K/V of the last context it saw. A graph recorded for context A reads A's K/V;
    /// once a plain pass over context B has replaced (freed) them, replaying A's graph read freed memory (the interpreter
    /// reported UseAfterFree). Now the free makes the graph stale: the next call for A runs plainly (projecting A's K/V
    /// again) and the one after records anew, with the plain results throughout. One tiny UNet cross-attention: well
    /// under a second.</summary>
    [InterpreterFact]
    public void A_graph_is_not_replayed_after_the_cross_attention_kv_it_read_was_recomputed_for_another_context()
    {
        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt) { UseGraphs = true };
        using var unet = new UNet2DConditionModel(UnetConfig(), UnetWeights(), ops);
        var attn = unet.Attentions.First(a => !a.SelfAttention);
        using var ctxA = ops.Upload(Rand(31, 1, 7, attn.ContextDim));
        using var ctxB = ops.Upload(Rand(32, 1, 7, attn.ContextDim));
        using var x = ops.Upload(Rand(33, 1, 12, attn.QueryDim));
        float[] Call(DeviceTensor ctx) { using var y = ops.Replayable((attn, ctx), x, t => attn.Forward(t, ctx)); return ops.Download(y).Data; }
        var a = Call(ctxA);                     // plain: projects A's K/V
        Assert.Equal(a, Call(ctxA));            // recorded and replayed
        var b = Call(ctxB);                     // plain: B's K/V replace A's
        Assert.NotEqual(a, b);
        Assert.Equal(a, Call(ctxA));            // A's graph is stale: plain again
        Assert.Equal(1, ops.GraphsInvalidated);
        Assert.Equal(1, ops.GraphsRecorded);
        Assert.Equal(a, Call(ctxA));            // recorded anew
        Assert.Equal(2, ops.GraphsRecorded);
        Assert.Equal(a, Call(ctxA));
        Assert.Equal(3, ops.GraphReplays);
    }

    /// <summary>Work a graph cannot hold (here a copy to the host) fails its recording: the backend says why
    /// (GraphFailure), turns graphs off and runs that call plainly, so the run goes on with the plain results.</summary>
    [InterpreterFact]
    public void Work_that_copies_to_the_host_cannot_be_recorded_and_runs_plainly_with_graphs_off()
    {
        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt) { UseGraphs = true };
        using var x = ops.Upload(Rand(3, 1, 4, 4, 8));
        DeviceTensor Good(DeviceTensor t) => ops.Silu(t);
        for (int i = 0; i < 3; i++) ops.Replayable("good", x, Good).Dispose();   // a graph recorded before the failure
        Assert.Equal(1, ops.GraphsRecorded);
        long graphMemory = rt.Memory.LiveAllocations;
        DeviceTensor Bad(DeviceTensor t) { _ = ops.Download(t); return ops.Silu(t); }
        float[] want;
        using (var first = ops.Replayable("bad", x, Bad)) want = ops.Download(first).Data;   // warm-up runs plainly
        Assert.Null(ops.GraphFailure);
        using (var second = ops.Replayable("bad", x, Bad)) Assert.Equal(want, ops.Download(second).Data);
        Assert.StartsWith("recording a CUDA graph failed, graphs are off: ", ops.GraphFailure);
        Assert.Contains("while capturing a graph", ops.GraphFailure);
        Assert.False(ops.UseGraphs);
        Assert.False(rt.Capturing);
        Assert.Equal(1, ops.GraphsRecorded);
        Assert.True(rt.Memory.LiveAllocations < graphMemory, "the earlier graph's memory was released with graphs off");
        using (var third = ops.Replayable("bad", x, Bad)) Assert.Equal(want, ops.Download(third).Data);
    }

    /// <summary>A cancelled pass is not a recording failure: it propagates, and graphs stay on.</summary>
    [InterpreterFact]
    public void A_cancelled_recording_propagates_and_leaves_graphs_on()
    {
        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt) { UseGraphs = true };
        using var x = ops.Upload(Rand(3, 1, 4, 4, 8));
        bool cancel = false;
        DeviceTensor F(DeviceTensor t) { if (cancel) throw new OperationCanceledException(); return ops.Silu(t); }
        using (var first = ops.Replayable("f", x, F)) { }
        cancel = true;
        Assert.Throws<OperationCanceledException>(() => ops.Replayable("f", x, F));
        Assert.False(rt.Capturing);
        Assert.Null(ops.GraphFailure);
        Assert.True(ops.UseGraphs);
        cancel = false;
        using (var again = ops.Replayable("f", x, F)) { }
        Assert.Equal(1, ops.GraphsRecorded);
    }

    [InterpreterFact]
    public void A_replayed_unet_pass_matches_the_plain_pass()
    {
        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt) { UseGraphs = true };
        var cfg = UnetConfig();
        using var unet = new UNet2DConditionModel(cfg, UnetWeights(), ops);
        using var ctx = ops.Upload(Module("unet.in.encoder_hidden_states"));
        DeviceTensor F(DeviceTensor t) => unet.Forward(t, 1f, ctx);
        float[] Plain(DeviceTensor x) { using var y = F(x); return ops.Download(y).Data; }
        float[] Replayed(DeviceTensor x) { using var y = ops.Replayable((unet, ctx), x, F); return ops.Download(y).Data; }

        using var x1 = ops.Upload(ToNhwc(RandomNchw([1, cfg.InChannels, 6, 6], seed: 21)));
        using var x2 = ops.Upload(ToNhwc(RandomNchw([1, cfg.InChannels, 6, 6], seed: 22)));
        _ = Replayed(x1);                                       // warm-up
        var r2 = Replayed(x2);                                  // recorded, then replayed
        Assert.Equal(1, ops.GraphsRecorded);
        Assert.Equal(Plain(x2), r2);
        Assert.Equal(Plain(x1), Replayed(x1));
        Assert.Equal(2, ops.GraphReplays);
    }
    /// <summary>A whole latent path (text encoder, VAE encoder, UNet, VAE decoder) of the tiny model, image after image:
    /// the UNet pass and both untiled VAE halves become graphs on the second image and replay from then on, with the
    /// plain run's bits.</summary>
    [InterpreterFact]
    public void The_unet_and_both_vae_halves_replay_as_graphs_with_the_plain_results()
    {
        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt) { UseGraphs = true };
        using var model = TinyFixtureModel.Load(ops);
        var pipeline = new UpscalePipeline(model);
        var o = new UpscaleOptions();       // the default mode; a 32x32 input needs no VAE or latent tiles
        float[] Run(int seed) => pipeline.RunLatentPath(Rand(seed, 1, 3, 32, 32), o).Data;

        var first = Run(1);                                 // warm-up: everything plain
        Assert.Equal(0, ops.GraphsRecorded);
        var second = Run(2);                                // recorded, then replayed
        Assert.Equal(3, ops.GraphsRecorded);                // VAE encoder, UNet, VAE decoder
        Assert.Equal(3, ops.GraphReplays);
        Assert.Equal(first, Run(1));                        // replays only
        Assert.Equal(3, ops.GraphsRecorded);
        Assert.Equal(6, ops.GraphReplays);
        Assert.NotEqual(first, second);
        ops.UseGraphs = false;
        Assert.Equal(second, Run(2));                       // the plain run of the second image
    }
    /// <summary>`pisa profile` times or counts each launch, so with PISA_CUDA_GRAPHS=1 its pass (the second, after a
    /// warm-up) must not be recorded or replayed: the profiler turns graphs off while it observes, and back on after.</summary>
    [InterpreterFact]
    public void A_profiled_pass_issues_every_launch_even_with_graphs_on()
    {
        var rt = new PtxGpuRuntime();
        using var ops = new CudaOps(rt) { UseGraphs = true };
        var gamma = Rand(1, 16); var beta = Rand(2, 16);
        DeviceTensor F(DeviceTensor t) { using var n = ops.GroupNorm(t, gamma, beta, 4, 1e-6f, silu: true); return ops.Axpby(n, t, 0.5f, 2f); }
        using var x = ops.Upload(Rand(9, 1, 7, 9, 16));
        using (var warm = ops.Replayable("f", x, F)) { }
        int seen;
        using (var profiler = new Engine.Bench.KernelProfiler(ops))
        {
            using (var y = ops.Replayable("f", x, F)) { }
            seen = profiler.Launches.Count(l => l.Counters is not null);
        }
        Assert.Equal(0, ops.GraphsRecorded);
        Assert.True(seen >= 2, $"{seen} launches counted");
        Assert.True(ops.UseGraphs);
        using (var y = ops.Replayable("f", x, F)) { }      // graphs again once the profile is over
        Assert.Equal(1, ops.GraphsRecorded);
    }
}
