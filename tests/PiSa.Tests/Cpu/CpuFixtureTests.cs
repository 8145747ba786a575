using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Tensors;
using static PiSa.Tests.Cpu.CpuTestUtil;

namespace PiSa.Tests.Cpu;

/// <summary>
/// The CPU ops against PyTorch itself: single modules recorded by the fixture generator
/// (modules.safetensors, NCHW) with the tiny model's weights.
/// </summary>
public class CpuFixtureTests
{
    private static readonly Lazy<Dictionary<string, HostTensor>> Modules = new(() => FixtureSafetensors.ReadAllF32(Path.Combine(FixturePaths.Tiny, "modules.safetensors")));
    private static readonly Lazy<Dictionary<string, HostTensor>> Unet = new(() => FixtureSafetensors.ReadAllF32(Path.Combine(FixturePaths.Tiny, "sd", "unet", "diffusion_pytorch_model.safetensors")));
    private static readonly Lazy<Dictionary<string, HostTensor>> Vae = new(() => FixtureSafetensors.ReadAllF32(Path.Combine(FixturePaths.Tiny, "sd", "vae", "diffusion_pytorch_model.safetensors")));

    [Theory]
    [InlineData("conv_in", "conv_in", 1)]
    [InlineData("down_blocks.0.downsamplers.0", "down_blocks.0.downsamplers.0.conv", 2)]
    public void UnetConvsMatchPyTorch(string module, string weights, int stride)
    {
        using var ops = new CpuOps();
        var x = CpuOps.FromNchw(Modules.Value[$"unet.{module}.arg0"]);
        var y = (CpuTensor)ops.Conv2d(x, Unet.Value[weights + ".weight"], Unet.Value[weights + ".bias"], stride, Pad2d.Same(1));
        AssertClose(Layout.NchwToNhwc(Modules.Value[$"unet.{module}.out"]).Data, y.Data, 1e-5, module);
    }

    [Fact]
    public void TimeEmbeddingMatchesPyTorch()
    {
        // TimestepEmbedding: linear_1 -> SiLU -> linear_2.
        using var ops = new CpuOps();
        var w = Unet.Value;
        var x = ops.Upload(Modules.Value["unet.time_embedding.arg0"]);
        var h = ops.Silu(ops.Linear(x, w["time_embedding.linear_1.weight"], w["time_embedding.linear_1.bias"]));
        var y = (CpuTensor)ops.Linear(h, w["time_embedding.linear_2.weight"], w["time_embedding.linear_2.bias"]);
        AssertClose(Modules.Value["unet.time_embedding.out"].Data, y.Data, 1e-5, "time_embedding");
    }

    [Fact]
    public void VaeMidBlockAttentionMatchesPyTorch()
    {
        // diffusers Attention with group_norm, one head of all channels, residual connection.
        using var ops = new CpuOps();
        const string p = "encoder.mid_block.attentions.0.";
        var w = Vae.Value;
        var input = CpuOps.FromNchw(Modules.Value["vae.encoder.mid_block.attentions.0.arg0"]);
        int n = input.Shape[0], hh = input.Shape[1], ww = input.Shape[2], c = input.Shape[3];
        var normed = ops.Reshape(ops.GroupNorm(input, w[p + "group_norm.weight"], w[p + "group_norm.bias"], 32, 1e-6f, false), n, hh * ww, c);
        var q = ops.Linear(normed, w[p + "to_q.weight"], w[p + "to_q.bias"]);
        var k = ops.Linear(normed, w[p + "to_k.weight"], w[p + "to_k.bias"]);
        var v = ops.Linear(normed, w[p + "to_v.weight"], w[p + "to_v.bias"]);
        var a = ops.Attention(q, k, v, 1, false);
        var y = (CpuTensor)ops.Linear(a, w[p + "to_out.0.weight"], w[p + "to_out.0.bias"], ops.Reshape(input, n, hh * ww, c));
        AssertClose(Layout.NchwToNhwc(Modules.Value["vae.encoder.mid_block.attentions.0.out"]).Data, y.Data, 1e-5, "vae attention");
    }
}
