using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;
using PiSa.Engine.Models.Unet;
using PiSa.Engine.Tensors;
using static PiSa.Tests.Models.UnetClip.UnetClipFixtures;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>Single UNet modules against modules.safetensors (inputs/outputs recorded from diffusers 0.25).</summary>
public class UnetClipModuleTests
{
    public static TheoryData<string> Backends => UnetClipBackends.Names;

    [Theory, MemberData(nameof(Backends))]
    public void TimeProjection_MatchesDiffusers(string backend)
    {
        _ = backend;
        var cfg = UnetConfig();
        float t = Module("unet.time_proj.arg0").Data[0];
        var emb = TimestepEmbedding.Sinusoid(t, cfg.BlockOutChannels[0], cfg.FlipSinToCos, cfg.FreqShift);
        AssertClose(Module("unet.time_proj.out"), new HostTensor([1, emb.Length], emb));
    }

    [Theory, MemberData(nameof(Backends))]
    public void TimeEmbedding_MatchesDiffusers(string backend)
    {
        using var ops = UnetClipBackends.Create(backend);
        var cfg = UnetConfig();
        var te = new TimestepEmbedding(ops, UnetWeights(), "time_embedding", cfg.BlockOutChannels[0], cfg.FlipSinToCos, cfg.FreqShift);
        using var y = te.Forward(Module("unet.time_proj.arg0").Data[0]);
        AssertClose(Module("unet.time_embedding.out"), ops.Download(y));
    }

    [Theory, MemberData(nameof(Backends))]
    public void ConvIn_MatchesDiffusers(string backend)
    {
        using var ops = UnetClipBackends.Create(backend);
        var conv = new ConvLayer(UnetWeights(), "conv_in");
        using var x = UploadNhwc(ops, "unet.conv_in.arg0");
        using var y = conv.Apply(ops, x);
        AssertClose(Module("unet.conv_in.out"), ops.Download(y));
    }

    [Theory]
    [MemberData(nameof(ResnetCases))]
    public void Resnet_MatchesDiffusers(string backend, string module)
    {
        using var ops = UnetClipBackends.Create(backend);
        var cfg = UnetConfig();
        var block = new ResnetBlock2D(ops, UnetWeights(), module, cfg.NormNumGroups, cfg.NormEps, hasTimeEmbedding: true);
        using var x = UploadNhwc(ops, $"unet.{module}.arg0");
        using var temb = ops.Upload(Module($"unet.{module}.arg1"));
        using var tembAct = ops.Silu(temb);
        using var y = block.Forward(x, tembAct);
        AssertClose(Module($"unet.{module}.out"), ops.Download(y));
    }

    public static TheoryData<string, string> ResnetCases()
    {
        var d = new TheoryData<string, string>();
        foreach (var b in UnetClipBackends.Names)
        {
            d.Add(b, "down_blocks.0.resnets.0");
            d.Add(b, "down_blocks.1.resnets.0"); // 16 -> 32 channels: conv_shortcut
        }
        return d;
    }

    [Theory, MemberData(nameof(Backends))]
    public void Downsampler_MatchesDiffusers(string backend)
    {
        using var ops = UnetClipBackends.Create(backend);
        var ds = new Downsample2D(ops, UnetWeights(), "down_blocks.0.downsamplers.0", UnetConfig().DownsamplePadding);
        using var x = UploadNhwc(ops, "unet.down_blocks.0.downsamplers.0.arg0");
        using var y = ds.Forward(x);
        AssertClose(Module("unet.down_blocks.0.downsamplers.0.out"), ops.Download(y));
    }

    [Theory]
    [MemberData(nameof(UpsamplerCases))]
    public void Upsampler_ToSkipSize_MatchesDiffusers(string backend, string module)
    {
        using var ops = UnetClipBackends.Create(backend);
        var us = new Upsample2D(ops, UnetWeights(), module);
        var expected = Module($"unet.{module}.out");
        var input = Module($"unet.{module}.arg0");
        if (!IsFinite(input) || !IsFinite(expected))
        {
            // The public fixture recorded these after a NaN appeared upstream (see UnetClipFixtures.IsFinite):
            // check the same size change against an independent nearest-interpolate + conv instead.
            input = RandomNchw(input.Shape, seed: 7);
            expected = ReferenceUpsample(input, expected.Dim(2), expected.Dim(3), UnetWeights(), module);
        }
        using var x = ops.Upload(ToNhwc(input));
        using var y = us.Forward(x, expected.Dim(2), expected.Dim(3));
        AssertClose(expected, ops.Download(y));
    }

    /// <summary>F.interpolate(nearest, size) then conv3x3 pad 1, in NCHW with plain loops (src = floor(dst * in / out)).</summary>
    private static HostTensor ReferenceUpsample(HostTensor x, int oh, int ow, PiSa.Engine.Models.IWeightSource w, string module)
    {
        var wt = w.Get(module + ".conv.weight");
        var bias = w.Get(module + ".conv.bias");
        int c = x.Dim(1), h = x.Dim(2), wd = x.Dim(3), o = wt.Dim(0);
        var up = new float[c * oh * ow];
        for (int ch = 0; ch < c; ch++)
            for (int yy = 0; yy < oh; yy++)
                for (int xx = 0; xx < ow; xx++)
                    up[(ch * oh + yy) * ow + xx] = x.Data[(ch * h + (int)Math.Floor(yy * (double)h / oh)) * wd + (int)Math.Floor(xx * (double)wd / ow)];
        var y = new HostTensor(1, o, oh, ow);
        for (int oc = 0; oc < o; oc++)
            for (int yy = 0; yy < oh; yy++)
                for (int xx = 0; xx < ow; xx++)
                {
                    double s = bias.Data[oc];
                    for (int ic = 0; ic < c; ic++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++)
                            {
                                int iy = yy + ky - 1, ix = xx + kx - 1;
                                if (iy < 0 || iy >= oh || ix < 0 || ix >= ow) continue;
                                s += (double)up[(ic * oh + iy) * ow + ix] * wt.Data[((oc * c + ic) * 3 + ky) * 3 + kx];
                            }
                    y.Data[(oc * oh + yy) * ow + xx] = (float)s;
                }
        return y;
    }

    public static TheoryData<string, string> UpsamplerCases()
    {
        var d = new TheoryData<string, string>();
        foreach (var b in UnetClipBackends.Names)
        {
            d.Add(b, "up_blocks.0.upsamplers.0"); // 2x1 -> 3x2
            d.Add(b, "up_blocks.1.upsamplers.0"); // 3x2 -> 5x4
        }
        return d;
    }

    [Theory, MemberData(nameof(Backends))]
    public void BasicTransformerBlock_MatchesDiffusers(string backend)
    {
        using var ops = UnetClipBackends.Create(backend);
        var cfg = UnetConfig();
        const string m = "down_blocks.1.attentions.0.transformer_blocks.0";
        var block = new BasicTransformerBlock(ops, UnetWeights(), m, cfg.AttentionHeads[1], cfg.OnlyCrossAttention);
        using var x = ops.Upload(Module($"unet.{m}.arg0"));
        using var ctx = ops.Upload(Module($"unet.{m}.encoder_hidden_states"));
        using var y = block.Forward(x, ctx);
        AssertClose(Module($"unet.{m}.out"), ops.Download(y));
    }

    [Theory, MemberData(nameof(Backends))]
    public void Transformer2DModel_MatchesDiffusers(string backend)
    {
        using var ops = UnetClipBackends.Create(backend);
        var cfg = UnetConfig();
        const string m = "down_blocks.1.attentions.0";
        var t = new Transformer2DModel(ops, UnetWeights(), m, cfg.AttentionHeads[1], cfg.NormNumGroups,
            cfg.TransformerLayersPerBlock, cfg.UseLinearProjection, cfg.OnlyCrossAttention);
        using var x = UploadNhwc(ops, $"unet.{m}.arg0");
        using var ctx = ops.Upload(Module($"unet.{m}.encoder_hidden_states"));
        using var y = t.Forward(x, ctx);
        AssertClose(Module($"unet.{m}.out"), ops.Download(y));
    }

    [Theory, MemberData(nameof(Backends))]
    public void MidBlock_MatchesDiffusers(string backend)
    {
        using var ops = UnetClipBackends.Create(backend);
        var cfg = UnetConfig();
        var w = UnetWeights();
        var mid = new UNetMidBlock(ops, w, cfg);
        var input = Module("unet.mid_block.arg0");
        using var temb = ops.Upload(Module("unet.mid_block.arg1"));
        using var tembAct = ops.Silu(temb);
        using var ctx = ops.Upload(Module("unet.mid_block.encoder_hidden_states"));
        if (IsFinite(input) && IsFinite(Module("unet.mid_block.out")))
        {
            using var x = ops.Upload(ToNhwc(input));
            using var y = mid.Forward(x, tembAct, ctx);
            AssertClose(Module("unet.mid_block.out"), ops.Download(y));
            return;
        }
        // NaN-poisoned public fixture: check the wiring (resnet, transformer with the LAST block's heads, resnet)
        // on a random input of the same shape against the individually fixture-validated modules.
        using var xr = ops.Upload(ToNhwc(RandomNchw(input.Shape, seed: 11)));
        using var got = mid.Forward(xr, tembAct, ctx);
        var r0 = new ResnetBlock2D(ops, w, "mid_block.resnets.0", cfg.NormNumGroups, cfg.NormEps, true);
        var r1 = new ResnetBlock2D(ops, w, "mid_block.resnets.1", cfg.NormNumGroups, cfg.NormEps, true);
        var t = new Transformer2DModel(ops, w, "mid_block.attentions.0", cfg.AttentionHeads[^1], cfg.NormNumGroups,
            cfg.TransformerLayersPerBlock, cfg.UseLinearProjection, false);
        using var a = r0.Forward(xr, tembAct);
        using var b = t.Forward(a, ctx);
        using var c = r1.Forward(b, tembAct);
        var want = ops.Download(c);
        var have = ops.Download(got);
        Assert.Equal(want.Data, have.Data);
    }

    [Theory, MemberData(nameof(Backends))]
    public void FullUnet_BaseWeights_MatchesDiffusers(string backend)
    {
        using var ops = UnetClipBackends.Create(backend);
        var unet = new UNet2DConditionModel(UnetConfig(), UnetWeights(), ops);
        using var x = UploadNhwc(ops, "unet.in.sample");
        using var ctx = ops.Upload(Module("unet.in.encoder_hidden_states"));
        using var y = unet.Forward(x, Module("unet.in.timestep").Data[0], ctx);
        var got = ops.Download(y);
        if (IsFinite(Module("unet.out"))) AssertClose(Module("unet.out"), got);
        else Assert.True(IsFinite(got), "UNet output has NaN/Inf"); // public fixture's unet.out is NaN: see the case tests
    }

    /// <summary>The whole UNet with the PiSA default weights (LoRA merged in the test) against each case's unet_pred:
    /// latents 10x10, 14x8, 9x11 (odd: upsampling to the skip size) and 10x8.</summary>
    [Theory]
    [MemberData(nameof(CaseNames))]
    public void FullUnet_PisaDefault_MatchesCases(string backend, string caseName)
    {
        using var ops = UnetClipBackends.Create(backend);
        var c = Load(Path.Combine(FixturePaths.Tiny, "expected", $"case_{caseName}.safetensors"));
        var unet = new UNet2DConditionModel(UnetConfig(), UnetClipLoraMerge.DefaultPisaWeights(), ops);
        using var x = ops.Upload(ToNhwc(c["lq_latent"]));
        using var ctx = ops.Upload(c["prompt_embeds"]);
        using var y = unet.Forward(x, 1f, ctx);
        AssertClose(c["unet_pred"], ops.Download(y));
    }

    public static TheoryData<string, string> CaseNames()
    {
        var d = new TheoryData<string, string>();
        foreach (var b in UnetClipBackends.Names)
            foreach (var n in new[] { "a_default", "b_default", "c_default", "d_default_resizeflag" })
                d.Add(b, n);
        return d;
    }

    [Theory, MemberData(nameof(Backends))]
    public void FullUnet_BatchOfTwo_BroadcastsOnePrompt(string backend)
    {
        using var ops = UnetClipBackends.Create(backend);
        var unet = new UNet2DConditionModel(UnetConfig(), UnetWeights(), ops);
        var one = RandomNchw([1, 4, 5, 6], seed: 3);
        var two = new HostTensor([2, 4, 5, 6], one.Data.Concat(RandomNchw([1, 4, 5, 6], seed: 4).Data).ToArray());
        using var ctx = ops.Upload(Module("unet.in.encoder_hidden_states"));
        using var x1 = ops.Upload(ToNhwc(one));
        using var x2 = ops.Upload(ToNhwc(two));
        using var y1 = unet.Forward(x1, 1f, ctx);
        using var y2 = unet.Forward(x2, 1f, ctx);
        var a = ops.Download(y1).Data;
        var b = ops.Download(y2).Data;
        Assert.Equal(2 * a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5f * (1 + Math.Abs(a[i])), $"element {i}: {a[i]} vs {b[i]}");
    }
}
