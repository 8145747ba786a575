using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;

namespace PiSa.Engine.Models.Unet;

/// <summary>
/// diffusers Transformer2DModel for continuous NHWC input: GroupNorm(groups, eps 1e-6) -> proj_in (Linear when
/// use_linear_projection, else 1x1 conv) -> BasicTransformerBlocks over the H*W tokens -> proj_out -> + input.
/// </summary>
public sealed class Transformer2DModel
{
    private const float NormEps = 1e-6f;
    private readonly IOps _ops;
    private readonly NormLayer _norm;
    private readonly int _groups;
    private readonly bool _linearProjection;
    private readonly LinearLayer? _projInLinear, _projOutLinear;
    private readonly ConvLayer? _projInConv, _projOutConv;
    private readonly BasicTransformerBlock[] _blocks;

    public Transformer2DModel(IOps ops, IWeightSource w, string prefix, int heads, int groups, int layers,
        bool useLinearProjection, bool onlyCrossAttention)
    {
        _ops = ops;
        _groups = groups;
        _linearProjection = useLinearProjection;
        _norm = new NormLayer(w, prefix + ".norm", NormEps);
        if (useLinearProjection)
        {
            _projInLinear = new LinearLayer(w, prefix + ".proj_in", requireBias: true);
            _projOutLinear = new LinearLayer(w, prefix + ".proj_out", requireBias: true);
        }
        else
        {
            _projInConv = new ConvLayer(w, prefix + ".proj_in");
            _projOutConv = new ConvLayer(w, prefix + ".proj_out");
        }
        _blocks = new BasicTransformerBlock[layers];
        for (int i = 0; i < layers; i++)
            _blocks[i] = new BasicTransformerBlock(ops, w, $"{prefix}.transformer_blocks.{i}", heads, onlyCrossAttention);
    }

    public IEnumerable<MultiHeadAttention> Attentions => _blocks.SelectMany(b => b.Attentions);

    /// <summary>x: NHWC [N, H, W, C]; context [N, L, crossDim]. x is not disposed.</summary>
    public DeviceTensor Forward(DeviceTensor x, DeviceTensor context)
    {
        int n = x.Dim(0), hh = x.Dim(1), ww = x.Dim(2);
        var normed = _norm.GroupNorm(_ops, x, _groups, silu: false);
        // Linear works on any rank, so proj_in runs on the NHWC tensor; a 1x1 conv is the same map.
        var p = _linearProjection ? _projInLinear!.Apply(_ops, normed) : _projInConv!.Apply(_ops, normed);
        normed.Dispose();
        int inner = p.Dim(3);

        // Tokens [N, H*W, inner]: the view is read by the first block only; p stays its owner.
        var h = _ops.Reshape(p, n, hh * ww, inner);
        DeviceTensor? owner = p;
        foreach (var block in _blocks)
        {
            var next = block.Forward(h, context);
            owner?.Dispose();
            owner = next;
            h = next;
        }

        // Back to NHWC for proj_out (again a view read once), with the block input as the residual.
        var hImage = _ops.Reshape(h, n, hh, ww, inner);
        var y = _linearProjection
            ? _projOutLinear!.Apply(_ops, hImage, residual: x)
            : _projOutConv!.Apply(_ops, hImage, residual: x);
        owner?.Dispose();
        return y;
    }
}
