using PiSa.Engine.Models;
using PiSa.Engine.Models.Descriptions;
using PiSa.Engine.Pipeline;

namespace PiSa.Engine.Bench;

/// <summary>Floating-point operations of one stage, split by kind (a multiply-add counts 2).</summary>
public sealed record StageFlops(string Stage, double Conv, double Linear, double Attention)
{
    public double Total => Conv + Linear + Attention;
    public static StageFlops operator *(StageFlops f, double k) => new(f.Stage, f.Conv * k, f.Linear * k, f.Attention * k);
    public static StageFlops operator +(StageFlops a, StageFlops b) => new(a.Stage, a.Conv + b.Conv, a.Linear + b.Linear, a.Attention + b.Attention);
}

/// <summary>
/// Arithmetic of the four timed stages, counted from the configs through the model descriptions (every weight of a
/// description is one conv or linear, and its name says at which resolution it runs):
/// conv = 2*Cout*Cin*kh*kw*Hout*Wout; linear = 2*in*out*tokens (spatial tokens in transformer blocks, the text
/// tokens for cross-attention K/V, one token for the time embedding and the resnets' time projections);
/// attention = 4*Lq*Lk*C (QK^T and PV, all heads together). Not counted: norms, activations, softmax, residual
/// adds, up/down-sampling copies, embeddings gathers, biases — a few percent at most at SD 2.1 shapes.
/// VAE tiling (above its thresholds) is not modelled (its overlap adds work); UNet latent tiling is.
/// </summary>
public static class FlopCounter
{
    /// <summary>CLIP text encoder on <paramref name="tokens"/> tokens (77 in SD 2.1).</summary>
    public static StageFlops TextEncoder(ClipTextConfig c, int tokens)
    {
        double conv = 0, linear = 0, attention = 0;
        foreach (var p in ClipTextDescription.Build(c))
        {
            if (!IsMatrix(p) || p.Name.Contains("embedding", StringComparison.Ordinal)) continue;
            linear += 2.0 * Numel(p.Shape) * tokens;
            if (p.Name.EndsWith("self_attn.q_proj.weight", StringComparison.Ordinal))
                attention += 4.0 * tokens * tokens * p.Shape[0];
        }
        return new StageFlops("text encoder", conv, linear, attention);
    }

    /// <summary>VAE encoder on an image of <paramref name="h"/> x <paramref name="w"/> pixels, quant_conv included.</summary>
    public static StageFlops VaeEncoder(VaeConfig c, int h, int w)
    {
        int n = c.BlockOutChannels.Length;
        return Count("vae encode", VaeDescription.Build(c), h, w, 0, name =>
        {
            if (name.StartsWith("quant_conv.", StringComparison.Ordinal)) return -(n - 1);
            if (!name.StartsWith("encoder.", StringComparison.Ordinal)) return null;
            if (TryBlock(name, "encoder.down_blocks.", out int i, out bool sampler)) return -(sampler ? i + 1 : i);
            if (name.StartsWith("encoder.mid_block.", StringComparison.Ordinal) || name.StartsWith("encoder.conv_out.", StringComparison.Ordinal)) return -(n - 1);
            return 0;
        });
    }

    /// <summary>VAE decoder (post_quant_conv included) on a latent of <paramref name="h"/> x <paramref name="w"/>.</summary>
    public static StageFlops VaeDecoder(VaeConfig c, int h, int w)
    {
        int n = c.BlockOutChannels.Length;
        return Count("vae decode", VaeDescription.Build(c), h, w, 0, name =>
        {
            if (name.StartsWith("post_quant_conv.", StringComparison.Ordinal)) return 0;
            if (!name.StartsWith("decoder.", StringComparison.Ordinal)) return null;
            if (TryBlock(name, "decoder.up_blocks.", out int i, out bool sampler)) return sampler ? i + 1 : i;
            if (name.StartsWith("decoder.conv_out.", StringComparison.Ordinal)) return n - 1;
            return 0;
        });
    }

    /// <summary>One UNet pass on a latent of <paramref name="h"/> x <paramref name="w"/> with <paramref name="textTokens"/> context tokens.</summary>
    public static StageFlops UNet(UNetConfig c, int h, int w, int textTokens)
    {
        int n = c.BlockOutChannels.Length;
        return Count("unet", UNetDescription.Build(c), h, w, textTokens, name =>
        {
            if (TryBlock(name, "down_blocks.", out int i, out bool sampler)) return -(sampler ? i + 1 : i);
            if (name.StartsWith("mid_block.", StringComparison.Ordinal)) return -(n - 1);
            if (TryBlock(name, "up_blocks.", out i, out sampler)) return -(n - 1 - i) + (sampler ? 1 : 0);
            return 0;
        });
    }

    /// <summary>The UNet stage as the pipeline runs it: latent tiling above the tile threshold, and two passes
    /// per tile in the adjustable mode.</summary>
    public static StageFlops UNetStage(UNetConfig c, int h, int w, int textTokens, UpscaleOptions o)
    {
        StageFlops total;
        if (!LatentTiling.IsActive(h, w, o.LatentTile)) total = UNet(c, h, w, textTokens);
        else
        {
            int tile = Math.Min(o.LatentTile, Math.Min(h, w));
            int tiles = LatentTiling.Origins(w, tile, o.LatentOverlap).Length * LatentTiling.Origins(h, tile, o.LatentOverlap).Length;
            total = UNet(c, tile, tile, textTokens) * tiles;
        }
        return o.Mode == LoraMode.Adjustable ? total * 2 : total;
    }

    /// <summary>
    /// Sums conv and linear work of the weights <paramref name="level"/> places (null: not in this stage), where a
    /// level k runs at the base size scaled by 2^k (negative: halved), and the attention of every self/cross
    /// attention (recognised by its query projection).
    /// </summary>
    private static StageFlops Count(string stage, IEnumerable<ParamSpec> specs, int h, int w, int textTokens, Func<string, int?> level)
    {
        double conv = 0, linear = 0, attention = 0;
        foreach (var p in specs)
        {
            if (!IsMatrix(p) || level(p.Name) is not int k) continue;
            double pixels = (double)Scale(h, k) * Scale(w, k);
            if (p.Shape.Length == 4) { conv += 2.0 * Numel(p.Shape) * pixels; continue; }
            bool oneToken = p.Name.StartsWith("time_embedding.", StringComparison.Ordinal) || p.Name.Contains("time_emb_proj", StringComparison.Ordinal);
            bool textSide = p.Name.Contains("attn2.to_k.", StringComparison.Ordinal) || p.Name.Contains("attn2.to_v.", StringComparison.Ordinal);
            double tokens = oneToken ? 1 : textSide ? textTokens : pixels;
            linear += 2.0 * Numel(p.Shape) * tokens;
            if (p.Name.EndsWith("attn2.to_q.weight", StringComparison.Ordinal)) attention += 4.0 * pixels * textTokens * p.Shape[0];
            else if (p.Name.EndsWith("to_q.weight", StringComparison.Ordinal)) attention += 4.0 * pixels * pixels * p.Shape[0];
        }
        return new StageFlops(stage, conv, linear, attention);
    }

    /// <summary>"prefix{i}.downsamplers..." / "prefix{i}.upsamplers..." / "prefix{i}.anything".</summary>
    private static bool TryBlock(string name, string prefix, out int index, out bool sampler)
    {
        index = 0; sampler = false;
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return false;
        int dot = name.IndexOf('.', prefix.Length);
        if (dot < 0 || !int.TryParse(name.AsSpan(prefix.Length, dot - prefix.Length), out index)) return false;
        sampler = name.AsSpan(dot + 1).StartsWith("downsamplers.") || name.AsSpan(dot + 1).StartsWith("upsamplers.");
        return true;
    }

    /// <summary>Size at level k: doubled k times, or halved -k times rounding up (stride-2 convs with padding).</summary>
    private static long Scale(int size, int k)
    {
        long s = size;
        if (k >= 0) return s << k;
        for (int i = 0; i < -k; i++) s = (s + 1) / 2;
        return s;
    }

    private static bool IsMatrix(ParamSpec p) =>
        !p.IsBuffer && p.Name.EndsWith(".weight", StringComparison.Ordinal) && p.Shape.Length is 2 or 4 && !p.Name.Contains("norm", StringComparison.Ordinal);

    private static double Numel(int[] shape)
    {
        double n = 1;
        foreach (int d in shape) n *= d;
        return n;
    }
}
