namespace PiSa.Engine.Models.Descriptions;

/// <summary>
/// Every tensor transformers 4.28's CLIPTextModel state dict holds, in order. position_ids is a
/// persistent buffer in 4.28 (later versions drop it from the state dict), flagged so loaders accept
/// weight files with or without it.
/// </summary>
public static class ClipTextDescription
{
    public static IReadOnlyList<ParamSpec> Build(ClipTextConfig c)
    {
        var b = new ParamListBuilder();
        int h = c.HiddenSize;
        b.Buffer("text_model.embeddings.position_ids", 1, c.MaxPositionEmbeddings);
        b.Embedding("text_model.embeddings.token_embedding", c.VocabSize, h);
        b.Embedding("text_model.embeddings.position_embedding", c.MaxPositionEmbeddings, h);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"text_model.encoder.layers.{l}";
            b.Linear(p + ".self_attn.k_proj", h, h);
            b.Linear(p + ".self_attn.v_proj", h, h);
            b.Linear(p + ".self_attn.q_proj", h, h);
            b.Linear(p + ".self_attn.out_proj", h, h);
            b.Norm(p + ".layer_norm1", h);
            b.Linear(p + ".mlp.fc1", h, c.IntermediateSize);
            b.Linear(p + ".mlp.fc2", c.IntermediateSize, h);
            b.Norm(p + ".layer_norm2", h);
        }
        b.Norm("text_model.final_layer_norm", h);
        return b.Result;
    }
}
