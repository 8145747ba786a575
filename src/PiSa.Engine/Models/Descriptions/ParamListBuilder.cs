namespace PiSa.Engine.Models.Descriptions;

/// <summary>
/// Appends the parameters of the few torch layer kinds the three models are built from, in the order
/// <c>state_dict()</c> lists them (weight before bias; a module's own tensors before its children's).
/// </summary>
internal sealed class ParamListBuilder
{
    private readonly List<ParamSpec> _list = [];

    public IReadOnlyList<ParamSpec> Result => _list;

    public void Add(string name, params int[] shape) => _list.Add(new ParamSpec(name, shape));

    public void Buffer(string name, params int[] shape) => _list.Add(new ParamSpec(name, shape, IsBuffer: true));

    public void Linear(string module, int inFeatures, int outFeatures, bool bias = true)
    {
        Add(module + ".weight", outFeatures, inFeatures);
        if (bias) Add(module + ".bias", outFeatures);
    }

    public void Conv(string module, int inChannels, int outChannels, int kernel)
    {
        Add(module + ".weight", outChannels, inChannels, kernel, kernel);
        Add(module + ".bias", outChannels);
    }

    /// <summary>GroupNorm and LayerNorm both hold an affine weight and bias of the channel count.</summary>
    public void Norm(string module, int channels)
    {
        Add(module + ".weight", channels);
        Add(module + ".bias", channels);
    }

    public void Embedding(string module, int count, int dim) => Add(module + ".weight", count, dim);

    /// <summary>
    /// diffusers ResnetBlock2D: norm1, conv1, time_emb_proj (only when a time embedding feeds it),
    /// norm2, conv2, and a 1x1 conv_shortcut only when the channel count changes.
    /// </summary>
    public void Resnet(string p, int inCh, int outCh, int? tembChannels)
    {
        Norm(p + ".norm1", inCh);
        Conv(p + ".conv1", inCh, outCh, 3);
        if (tembChannels is int temb) Linear(p + ".time_emb_proj", temb, outCh);
        Norm(p + ".norm2", outCh);
        Conv(p + ".conv2", outCh, outCh, 3);
        if (inCh != outCh) Conv(p + ".conv_shortcut", inCh, outCh, 1);
    }
}
