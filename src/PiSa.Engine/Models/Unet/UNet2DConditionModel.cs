using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Unet;

/// <summary>
/// diffusers 0.25 UNet2DConditionModel (positional time embedding, default resnets, linear or conv projections,
/// no class/addition embeddings), written once against <see cref="IOps"/> on NHWC activations:
/// conv_in -> down blocks (skips kept) -> mid block -> up blocks (skips consumed) -> GroupNorm+SiLU -> conv_out.
/// </summary>
public sealed class UNet2DConditionModel : IDisposable
{
    private readonly IOps _ops;
    private readonly UNetConfig _cfg;
    private readonly TimestepEmbedding _time;
    private readonly ConvLayer _convIn, _convOut;
    private readonly NormLayer _normOut;
    private readonly UNetDownBlock[] _down;
    private readonly UNetMidBlock _mid;
    private readonly UNetUpBlock[] _up;
    private float? _foldedTimestep;
    /// <summary>The parameters whose backend copies this model's passes made (<see cref="IWeightRelease.TrackWeights"/>):
    /// its merged and derived tensors (fused projections, folded biases) and any shared base tensor it was the first to
    /// use. Tracked rather than listed, so a tensor a layer makes in future cannot be missed.</summary>
    private readonly List<HostTensor> _backendCopies = [];

    public UNetConfig Config => _cfg;

    // Range names (interned once: no string formatting per pass); blocks past the eighth share the last name.
    private static readonly string[] DownNames = Enumerable.Range(0, 8).Select(i => $"down_blocks.{i}").ToArray();
    private static readonly string[] UpNames = Enumerable.Range(0, 8).Select(i => $"up_blocks.{i}").ToArray();

    public UNet2DConditionModel(UNetConfig cfg, IWeightSource weights, IOps ops)
    {
        _cfg = cfg;
        _ops = ops;
        int blocks = cfg.BlockOutChannels.Length;
        if (cfg.DownBlockTypes.Length != blocks || cfg.UpBlockTypes.Length != blocks || cfg.AttentionHeads.Length != blocks)
            throw new PisaException($"UNet config: {blocks} block_out_channels but {cfg.DownBlockTypes.Length} down blocks, " +
                $"{cfg.UpBlockTypes.Length} up blocks, {cfg.AttentionHeads.Length} attention head counts");
        if (cfg.MidBlockType != "UNetMidBlock2DCrossAttn")
            throw new PisaException($"UNet config: mid_block_type '{cfg.MidBlockType}' is not supported");

        _time = new TimestepEmbedding(ops, weights, "time_embedding", cfg.BlockOutChannels[0], cfg.FlipSinToCos, cfg.FreqShift);
        _convIn = new ConvLayer(weights, "conv_in");
        if (_convIn.In != cfg.InChannels)
            throw new PisaException($"UNet: conv_in takes {_convIn.In} channels, config in_channels is {cfg.InChannels}");

        _down = new UNetDownBlock[blocks];
        for (int i = 0; i < blocks; i++)
        {
            bool cross = cfg.DownBlockTypes[i] switch
            {
                "CrossAttnDownBlock2D" => true,
                "DownBlock2D" => false,
                var t => throw new PisaException($"UNet config: down block type '{t}' is not supported"),
            };
            _down[i] = new UNetDownBlock(ops, weights, cfg, i, cross, addDownsample: i < blocks - 1);
        }
        _mid = new UNetMidBlock(ops, weights, cfg);
        _up = new UNetUpBlock[blocks];
        for (int i = 0; i < blocks; i++)
        {
            bool cross = cfg.UpBlockTypes[i] switch
            {
                "CrossAttnUpBlock2D" => true,
                "UpBlock2D" => false,
                var t => throw new PisaException($"UNet config: up block type '{t}' is not supported"),
            };
            _up[i] = new UNetUpBlock(ops, weights, cfg, i, cross, addUpsample: i < blocks - 1);
        }
        _normOut = new NormLayer(weights, "conv_norm_out", cfg.NormEps);
        _convOut = new ConvLayer(weights, "conv_out");
        if (_convOut.Out != cfg.OutChannels)
            throw new PisaException($"UNet: conv_out gives {_convOut.Out} channels, config out_channels is {cfg.OutChannels}");
    }

    /// <summary>The time embedding [1, time_embed_dim] for one timestep (before the resnets' SiLU).</summary>
    public DeviceTensor TimeEmbedding(float timestep) => _time.Forward(timestep);

    /// <summary>Every attention layer (their cross-attention K/V of the last context are cached on the backend).</summary>
    public IEnumerable<MultiHeadAttention> Attentions =>
        _down.SelectMany(b => b.Attentions).Concat(_mid.Attentions).Concat(_up.SelectMany(b => b.Attentions));

    /// <summary>Frees the cached cross-attention K/V; the model stays usable (the next pass recomputes them).</summary>
    public void Dispose()
    {
        foreach (var a in Attentions) a.Dispose();
    }

    /// <summary>
    /// Frees what this model holds on a device backend (<see cref="IWeightRelease"/>): the cached cross-attention K/V and
    /// the backend's copies of every parameter its passes uploaded (a weight set retired, or idle while another set
    /// runs). The model stays usable: its next pass uploads again what it needs. A shared base tensor it uploaded first
    /// goes too; the next pass of another model that uses it uploads it again (vectors and conv_in: small). Returns the
    /// bytes freed; 0 on a backend without its own copies.
    /// </summary>
    public long ReleaseBackendCopies()
    {
        Dispose();
        if (_ops is not IWeightRelease release) return 0;
        long freed = release.ReleaseWeights(_backendCopies);
        _backendCopies.Clear();
        return freed;
    }

    private IEnumerable<ResnetBlock2D> AllResnets() =>
        _down.SelectMany(b => b.Resnets).Concat(_mid.Resnets).Concat(_up.SelectMany(b => b.Resnets));

    /// <summary>
    /// The timestep is one constant for the whole batch (PiSA-SR: always 1), so the time embedding and every resnet's
    /// time_emb_proj(silu(temb)) are computed once on the host (float64 accumulation) and folded into the conv1
    /// biases; a new timestep value refolds. Forward does this itself; call it early to do it at load time.
    /// </summary>
    public void PrepareTimestep(float timestep)
    {
        if (_foldedTimestep == timestep) return;
        var act = _time.ForwardHost(timestep);
        for (int i = 0; i < act.Length; i++) act[i] = act[i] / (1f + MathF.Exp(-act[i]));
        foreach (var r in AllResnets()) r.FoldTimeEmbedding(act);
        _foldedTimestep = timestep;
    }

    /// <summary>
    /// sample: NHWC latent [N, h, w, in_channels]; encoderHiddenStates: [N or 1, L, cross_attention_dim].
    /// Returns the prediction [N, h, w, out_channels]. Inputs are not disposed.
    /// </summary>
    /// <param name="ct">checked between blocks; on cancellation every activation held is disposed before the throw</param>
    public DeviceTensor Forward(DeviceTensor sample, float timestep, DeviceTensor encoderHiddenStates, CancellationToken ct = default)
    {
        if (sample.Rank != 4 || sample.Dim(3) != _cfg.InChannels)
            throw new PisaException($"UNet: sample [{ShapeUtil.Format(sample.Shape)}] is not NHWC with {_cfg.InChannels} channels");
        if (encoderHiddenStates.Rank != 3 || encoderHiddenStates.Dim(2) != _cfg.CrossAttentionDim)
            throw new PisaException($"UNet: encoder_hidden_states [{ShapeUtil.Format(encoderHiddenStates.Shape)}] is not [B, L, {_cfg.CrossAttentionDim}]");
        int n = sample.Dim(0);
        if (encoderHiddenStates.Dim(0) != n && encoderHiddenStates.Dim(0) != 1)
            throw new PisaException($"UNet: encoder_hidden_states batch {encoderHiddenStates.Dim(0)} does not match sample batch {n}");

        // Every parameter this pass copies to the backend for the first time is recorded (ReleaseBackendCopies).
        using var tracking = (_ops as IWeightRelease)?.TrackWeights(_backendCopies);
        var context = encoderHiddenStates.Dim(0) == n ? encoderHiddenStates : RepeatBatch(encoderHiddenStates, n);
        PrepareTimestep(timestep);
        DeviceTensor? tembAct = null; // resnets use their folded conv1 biases

        var skips = new List<DeviceTensor>();
        DeviceTensor? h = null;
        try
        {
            using (_ops.Range("conv_in")) skips.Add(_convIn.Apply(_ops, sample));
            for (int i = 0; i < _down.Length; i++)
            {
                ct.ThrowIfCancellationRequested();
                using (_ops.Range(DownNames[Math.Min(i, DownNames.Length - 1)])) _down[i].Forward(skips, tembAct, context);
            }
            ct.ThrowIfCancellationRequested();
            using (_ops.Range("mid_block")) h = _mid.Forward(skips[^1], tembAct, context);
            for (int i = 0; i < _up.Length; i++)
            {
                ct.ThrowIfCancellationRequested();
                DeviceTensor next;
                using (_ops.Range(UpNames[Math.Min(i, UpNames.Length - 1)])) next = _up[i].Forward(h, skips, tembAct, context);
                h.Dispose();
                h = next;
            }
        }
        catch
        {
            // Up blocks consume (and dispose) the skips they pop; what is still listed is ours to free.
            foreach (var s in skips) s.Dispose();
            h?.Dispose();
            if (!ReferenceEquals(context, encoderHiddenStates)) context.Dispose();
            throw;
        }
        if (skips.Count != 0)
            throw new PisaException($"UNet: {skips.Count} skip connections left unused (down/up block layer counts disagree)");

        using var outRange = _ops.Range("conv_out");
        var normed = _normOut.GroupNorm(_ops, h, _cfg.NormNumGroups, silu: true);
        h.Dispose();
        var y = _convOut.Apply(_ops, normed);
        normed.Dispose();
        if (!ReferenceEquals(context, encoderHiddenStates)) context.Dispose();
        return y;
    }

    /// <summary>Broadcast a batch-1 prompt embedding to n samples (tiny: done on the host once per call).</summary>
    private DeviceTensor RepeatBatch(DeviceTensor x, int n)
    {
        var host = _ops.Download(x);
        var data = new float[host.Count * n];
        for (int i = 0; i < n; i++) Array.Copy(host.Data, 0, data, i * host.Count, host.Count);
        return _ops.Upload(new HostTensor([n, x.Dim(1), x.Dim(2)], data));
    }
}
