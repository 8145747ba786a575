namespace PiSa.Engine.Models.Descriptions;

/// <summary>
/// Every tensor diffusers 0.25's UNet2DConditionModel creates for a config, in state_dict order
/// (conv_in, time_embedding, down_blocks, up_blocks, mid_block, conv_norm_out, conv_out: the module
/// lists are registered before the mid block). Used to check weight files before any compute and as
/// the base for the LoRA target list.
/// </summary>
public static class UNetDescription
{
    public static IReadOnlyList<ParamSpec> Build(UNetConfig c)
    {
        var b = new ParamListBuilder();
        int[] ch = c.BlockOutChannels;
        int n = ch.Length;
        int temb = c.TimeEmbedDim;

        b.Conv("conv_in", c.InChannels, ch[0], c.ConvInKernel);
        b.Linear("time_embedding.linear_1", ch[0], temb);
        b.Linear("time_embedding.linear_2", temb, temb);

        // Down path: each block's first resnet takes the previous block's width.
        int output = ch[0];
        for (int i = 0; i < n; i++)
        {
            int input = output;
            output = ch[i];
            string p = $"down_blocks.{i}";
            if (c.DownBlockTypes[i] == "CrossAttnDownBlock2D")
                for (int j = 0; j < c.LayersPerBlock; j++)
                    Transformer(b, c, $"{p}.attentions.{j}", output, c.AttentionHeads[i]);
            for (int j = 0; j < c.LayersPerBlock; j++)
                b.Resnet($"{p}.resnets.{j}", j == 0 ? input : output, output, temb);
            if (i < n - 1) b.Conv($"{p}.downsamplers.0.conv", output, output, 3);
        }

        // Up path: layers_per_block + 1 resnets, each concatenating one skip connection; the last
        // skip of a block comes from the next-shallower down block.
        var rev = Enumerable.Reverse(ch).ToArray();
        var revHeads = Enumerable.Reverse(c.AttentionHeads).ToArray();
        output = rev[0];
        for (int i = 0; i < n; i++)
        {
            int prevOutput = output;
            output = rev[i];
            int input = rev[Math.Min(i + 1, n - 1)];
            int layers = c.LayersPerBlock + 1;
            string p = $"up_blocks.{i}";
            if (c.UpBlockTypes[i] == "CrossAttnUpBlock2D")
                for (int j = 0; j < layers; j++)
                    Transformer(b, c, $"{p}.attentions.{j}", output, revHeads[i]);
            for (int j = 0; j < layers; j++)
            {
                int skip = j == layers - 1 ? input : output;
                int resIn = j == 0 ? prevOutput : output;
                b.Resnet($"{p}.resnets.{j}", resIn + skip, output, temb);
            }
            if (i < n - 1) b.Conv($"{p}.upsamplers.0.conv", output, output, 3);
        }

        // UNetMidBlock2DCrossAttn: resnet, transformer, resnet (attentions registered first).
        int midCh = ch[n - 1];
        Transformer(b, c, "mid_block.attentions.0", midCh, c.AttentionHeads[n - 1]);
        b.Resnet("mid_block.resnets.0", midCh, midCh, temb);
        b.Resnet("mid_block.resnets.1", midCh, midCh, temb);

        b.Norm("conv_norm_out", ch[0]);
        b.Conv("conv_out", ch[0], c.OutChannels, c.ConvOutKernel);
        return b.Result;
    }

    /// <summary>
    /// Transformer2DModel: GroupNorm, proj_in (Linear, or 1x1 conv without use_linear_projection),
    /// BasicTransformerBlocks (self-attention, cross-attention, GEGLU feed-forward of 4x width), proj_out.
    /// heads x (channels / heads) = channels, so the inner width equals the block width.
    /// </summary>
    private static void Transformer(ParamListBuilder b, UNetConfig c, string p, int channels, int heads)
    {
        int inner = heads * (channels / heads);
        b.Norm(p + ".norm", channels);
        if (c.UseLinearProjection) b.Linear(p + ".proj_in", channels, inner);
        else b.Conv(p + ".proj_in", channels, inner, 1);
        for (int t = 0; t < c.TransformerLayersPerBlock; t++)
        {
            string tb = $"{p}.transformer_blocks.{t}";
            b.Norm(tb + ".norm1", inner);
            Attention(b, tb + ".attn1", inner, inner);
            b.Norm(tb + ".norm2", inner);
            Attention(b, tb + ".attn2", inner, c.CrossAttentionDim);
            b.Norm(tb + ".norm3", inner);
            int ff = inner * 4;
            b.Linear(tb + ".ff.net.0.proj", inner, ff * 2);
            b.Linear(tb + ".ff.net.2", ff, inner);
        }
        if (c.UseLinearProjection) b.Linear(p + ".proj_out", inner, channels);
        else b.Conv(p + ".proj_out", inner, channels, 1);
    }

    /// <summary>diffusers Attention as the UNet builds it: bias-free q/k/v, biased output projection.</summary>
    private static void Attention(ParamListBuilder b, string p, int queryDim, int keyDim)
    {
        b.Linear(p + ".to_q", queryDim, queryDim, bias: false);
        b.Linear(p + ".to_k", keyDim, queryDim, bias: false);
        b.Linear(p + ".to_v", keyDim, queryDim, bias: false);
        b.Linear(p + ".to_out.0", queryDim, queryDim);
    }
}
