using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Backends.Cuda;
using PiSa.Engine.Formats;
using PiSa.Engine.Lora;
using PiSa.Engine.Models;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Text;
using PiSa.Engine.Tensors;
using Xunit.Abstractions;

namespace PiSa.Tests.Interpreter;

/// <summary>
/// Lambda changes on the CUDA backend, run on the interpreter (tiny model, one 8x8 latent: about 2 s a UNet pass): a
/// new fused set releases the idle one's device copies (WeightSetCache), and a set used again after its release is
/// uploaded again. The outputs must stay the CPU reference's at each run's own lambdas, and device memory must not
/// grow. The device-memory property itself over the whole pipeline and more lambda pairs is checked on the fake
/// runtime (WeightCacheTests), where it costs nothing. The text encoder's release is checked the same way: a prompt
/// encoded after the release must be the CPU's.
/// </summary>
public sealed class LambdaChangeOnInterpreterTests(ITestOutputHelper log)
{
    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;

    [InterpreterFact]
    public void Fused_unet_matches_the_cpu_at_each_new_lambda_pair_and_device_memory_stays_flat()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var rt = new PtxGpuRuntime();
        using var cuda = new CudaOps(rt);
        using var gpu = PisaModel.Load(Sd, Lora, cuda);
        using var cpu = PisaModel.Load(Sd, Lora, new CpuOps());
        var r = new Random(4);
        var z = new HostTensor(1, 8, 8, gpu.UNetConfig.InChannels);
        for (int i = 0; i < z.Data.Length; i++) z.Data[i] = (float)(r.NextDouble() * 2 - 1);
        using var zGpu = cuda.Upload(z);
        using var zCpu = cpu.Ops.Upload(z);
        float[] Predict(PisaModel m, DeviceTensor latent, float pix, float sem)
        {
            m.BeginRun();
            using var y = m.UNet("fused", pix, sem).Forward(latent, UpscalePipeline.Timestep, m.PromptEmbeddings(""));
            return m.Ops.Download(y).Data;
        }
        (float Pix, float Sem)[] lambdas = [(1f, 0.5f), (0.3f, 1.2f), (1f, 0.5f)];   // the third is the first again
        var got = new List<float[]>();
        var want = new List<float[]>();
        var weights = new List<long>();
        var live = new List<long>();
        foreach (var (pix, sem) in lambdas)
        {
            got.Add(Predict(gpu, zGpu, pix, sem));
            weights.Add(cuda.Weights.Bytes);
            live.Add(rt.Memory.LiveBytes);
            want.Add(Predict(cpu, zCpu, pix, sem));
        }
        var errors = got.Select((g, i) => TensorMetrics.RelativeL2(g, want[i])).ToArray();
        double apart = TensorMetrics.RelativeL2(want[1], want[0]);
        log.WriteLine($"relative L2 to the CPU: {string.Join(", ", errors.Select(e => e.ToString("E2")))}; the two pairs' CPU predictions " +
                      $"{apart:E2} apart; device weights {string.Join(", ", weights)} B, live {string.Join(", ", live)} B; {sw.Elapsed.TotalSeconds:F1} s");
        // Weights of the other pair would fail the comparison: the pairs' predictions are further apart than the tolerance.
        Assert.True(apart > 5e-2, $"the two lambda pairs give predictions only {apart:E2} apart: the check could not fail");
        Assert.All(errors, e => Assert.True(e < 1e-2, $"relative L2 {e:E2} to the CPU at the same lambdas"));
        Assert.Equal(got[0], got[2]);                            // the set uploaded again gives the same bits
        Assert.All(weights, b => Assert.Equal(weights[0], b));   // one fused set on the device at a time
        Assert.All(live, b => Assert.Equal(live[0], b));
        Assert.Equal(2, gpu.WeightSets.Keys.Count);              // both sets stay cached on the host:
        Assert.Equal(2, gpu.WeightSets.Builds);                  // the third run was not merged again
        Assert.Equal(2, gpu.WeightSets.DeviceReleases);
    }

    /// <summary>A weight source that hides its inner source's ability to re-read tensors.</summary>
    private sealed class NotReloadable(IWeightSource inner) : IWeightSource
    {
        public bool Contains(string name) => inner.Contains(name);
        public HostTensor Get(string name) => inner.Get(name);
        public IEnumerable<string> Names => inner.Names;
        public int[] ShapeOf(string name) => inner.ShapeOf(name);
    }

    /// <summary>The model as PisaModel.Load makes it, but with a text weight source that cannot re-read its tensors:
    /// the text encoder is then kept between prompts and only its device copies go.</summary>
    private static PisaModel LoadWithKeptTextEncoder(IOps ops)
    {
        var files = ModelFiles.Locate(Sd);
        var unet = SafetensorsWeightSource.Open(files.UNetWeights);
        var vae = SafetensorsWeightSource.Open(files.VaeWeights);
        var text = SafetensorsWeightSource.Open(files.TextWeights);
        return new PisaModel(ops, DiffusersConfig.LoadUNet(files.UNetConfig), unet, DiffusersConfig.LoadVae(files.VaeConfig), vae,
            DiffusersConfig.LoadClipText(files.TextConfig), new NotReloadable(text), ClipTokenizer.Load(files.TokenizerDir),
            PisaCheckpoint.Load(Lora));
    }

    /// <summary>After each new prompt the text encoder's device weights are released (PisaModel); the next new prompt
    /// uploads them again, whether the encoder was rebuilt from a re-readable source or kept. Each embedding must be the
    /// CPU's (the prompts' embeddings differ by far more than the tolerance), and none stays on the device.</summary>
    [InterpreterTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_prompt_encoded_after_the_text_encoder_release_matches_the_cpu(bool reloadable)
    {
        var rt = new PtxGpuRuntime();
        using var cuda = new CudaOps(rt);
        using var gpu = reloadable ? PisaModel.Load(Sd, Lora, cuda) : LoadWithKeptTextEncoder(cuda);
        using var cpu = PisaModel.Load(Sd, Lora, new CpuOps());
        Assert.Equal(reloadable, gpu.TextWeightsReloadable);
        string[] prompts = ["a photo", "a cat on a mat", "a photo"];
        var got = new List<float[]>();
        foreach (var p in prompts)
        {
            var e = cuda.Download(gpu.PromptEmbeddings(p)).Data;
            Assert.Equal(0, cuda.Weights.Bytes);
            double err = TensorMetrics.RelativeL2(e, cpu.Ops.Download(cpu.PromptEmbeddings(p)).Data);
            Assert.True(err < 1e-2, $"'{p}': relative L2 {err:E2} to the CPU");
            got.Add(e);
        }
        Assert.Equal(2, gpu.PromptEncodes);
        Assert.Equal(reloadable ? 0 : 1, gpu.TextEncoderLoaded ? 1 : 0);
        double apart = TensorMetrics.RelativeL2(got[1], got[0]);
        log.WriteLine($"{(reloadable ? "rebuilt" : "kept")} text encoder: the two prompts' embeddings {apart:E2} apart, {gpu.TextDeviceBytesReleased} B released");
        Assert.True(apart > 5e-2, $"the prompts' embeddings are only {apart:E2} apart: the check could not fail");
    }
}
