namespace PiSa.Engine.Models.Descriptions;

/// <summary>
/// Every tensor diffusers 0.25's AutoencoderKL creates for a config, in state_dict order: encoder
/// (conv_in, down_blocks, mid_block, conv_norm_out, conv_out with 2x latent channels), decoder
/// (conv_in, up_blocks, mid_block, conv_norm_out, conv_out), quant_conv, post_quant_conv.
/// </summary>
public static class VaeDescription
{
    public static IReadOnlyList<ParamSpec> Build(VaeConfig c)
    {
        var b = new ParamListBuilder();
        int[] ch = c.BlockOutChannels;
        int n = ch.Length;
        int top = ch[n - 1];

        b.Conv("encoder.conv_in", c.InChannels, ch[0], 3);
        int output = ch[0];
        for (int i = 0; i < n; i++)
        {
            int input = output;
            output = ch[i];
            for (int j = 0; j < c.LayersPerBlock; j++)
                b.Resnet($"encoder.down_blocks.{i}.resnets.{j}", j == 0 ? input : output, output, null);
            if (i < n - 1) b.Conv($"encoder.down_blocks.{i}.downsamplers.0.conv", output, output, 3);
        }
        MidBlock(b, c, "encoder.mid_block", top);
        b.Norm("encoder.conv_norm_out", top);
        b.Conv("encoder.conv_out", top, 2 * c.LatentChannels, 3);

        b.Conv("decoder.conv_in", c.LatentChannels, top, 3);
        var rev = Enumerable.Reverse(ch).ToArray();
        output = rev[0];
        for (int i = 0; i < n; i++)
        {
            int prevOutput = output;
            output = rev[i];
            for (int j = 0; j < c.LayersPerBlock + 1; j++)
                b.Resnet($"decoder.up_blocks.{i}.resnets.{j}", j == 0 ? prevOutput : output, output, null);
            if (i < n - 1) b.Conv($"decoder.up_blocks.{i}.upsamplers.0.conv", output, output, 3);
        }
        MidBlock(b, c, "decoder.mid_block", top);
        b.Norm("decoder.conv_norm_out", ch[0]);
        b.Conv("decoder.conv_out", ch[0], c.OutChannels, 3);

        b.Conv("quant_conv", 2 * c.LatentChannels, 2 * c.LatentChannels, 1);
        b.Conv("post_quant_conv", c.LatentChannels, c.LatentChannels, 1);
        return b.Result;
    }

    /// <summary>UNetMidBlock2D: one single-head attention (group_norm + biased q/k/v/out) between two resnets.</summary>
    private static void MidBlock(ParamListBuilder b, VaeConfig c, string p, int channels)
    {
        if (c.MidBlockAddAttention)
        {
            string a = p + ".attentions.0";
            b.Norm(a + ".group_norm", channels);
            b.Linear(a + ".to_q", channels, channels);
            b.Linear(a + ".to_k", channels, channels);
            b.Linear(a + ".to_v", channels, channels);
            b.Linear(a + ".to_out.0", channels, channels);
        }
        b.Resnet(p + ".resnets.0", channels, channels, null);
        b.Resnet(p + ".resnets.1", channels, channels, null);
    }
}
