using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Clip;

/// <summary>
/// transformers 4.28 CLIPTextModel, returning last_hidden_state (after final_layer_norm): token + position
/// embeddings (gathered on the host), pre-LN causal encoder layers, final LayerNorm. Weight names are
/// "text_model.…" as in the diffusers text_encoder/model.safetensors.
/// </summary>
public sealed class ClipTextModel
{
    private const string Prefix = "text_model";
    private readonly IOps _ops;
    private readonly ClipTextConfig _cfg;
    private readonly HostTensor _tokenEmbedding, _positionEmbedding;
    private readonly ClipEncoderLayer[] _layers;
    private readonly NormLayer _finalNorm;

    public ClipTextConfig Config => _cfg;

    public ClipTextModel(ClipTextConfig cfg, IWeightSource weights, IOps ops)
    {
        _cfg = cfg;
        _ops = ops;
        _tokenEmbedding = Param.Get(weights, Prefix + ".embeddings.token_embedding.weight", rank: 2);
        _positionEmbedding = Param.Get(weights, Prefix + ".embeddings.position_embedding.weight", rank: 2);
        if (_tokenEmbedding.Dim(1) != cfg.HiddenSize || _positionEmbedding.Dim(1) != cfg.HiddenSize)
            throw new PisaException($"CLIP: embedding widths {_tokenEmbedding.Dim(1)}/{_positionEmbedding.Dim(1)} do not match hidden_size {cfg.HiddenSize}");
        if (cfg.HiddenSize % cfg.NumAttentionHeads != 0)
            throw new PisaException($"CLIP config: hidden_size {cfg.HiddenSize} is not divisible by {cfg.NumAttentionHeads} heads");
        _layers = new ClipEncoderLayer[cfg.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new ClipEncoderLayer(ops, weights, $"{Prefix}.encoder.layers.{i}", cfg);
        _finalNorm = new NormLayer(weights, Prefix + ".final_layer_norm", cfg.LayerNormEps);
    }

    /// <summary>Token ids (already padded/truncated, usually 77 of them) -> [1, ids.Length, hidden].</summary>
    public DeviceTensor Encode(int[] ids)
    {
        var h = _ops.Upload(Embed(ids));
        foreach (var layer in _layers)
        {
            var next = layer.Forward(h);
            h.Dispose();
            h = next;
        }
        var y = _finalNorm.LayerNorm(_ops, h);
        h.Dispose();
        return y;
    }

    /// <summary>token_embedding[ids] + position_embedding[0..L), float32 on the host, [1, L, hidden].</summary>
    public HostTensor Embed(int[] ids)
    {
        int len = ids.Length, d = _cfg.HiddenSize;
        int vocab = _tokenEmbedding.Dim(0), maxPos = _positionEmbedding.Dim(0);
        if (len == 0 || len > maxPos)
            throw new PisaException($"CLIP: {len} tokens, the model takes 1 to {maxPos}");
        var x = new HostTensor(1, len, d);
        var tok = _tokenEmbedding.Data;
        var pos = _positionEmbedding.Data;
        var dst = x.Data;
        for (int l = 0; l < len; l++)
        {
            int id = ids[l];
            if (id < 0 || id >= vocab) throw new PisaException($"CLIP: token id {id} at position {l} is outside the vocabulary (0..{vocab - 1})");
            for (int c = 0; c < d; c++)
                dst[l * d + c] = tok[(long)id * d + c] + pos[l * d + c];
        }
        return x;
    }
}
