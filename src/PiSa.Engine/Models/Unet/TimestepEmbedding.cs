using PiSa.Engine.Backends;
using PiSa.Engine.Models.Common;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Unet;

/// <summary>
/// diffusers Timesteps (sinusoidal projection, computed on the host) followed by TimestepEmbedding
/// (linear_1 -> SiLU -> linear_2) through the ops.
/// </summary>
public sealed class TimestepEmbedding
{
    private readonly IOps _ops;
    private readonly LinearLayer _linear1, _linear2;
    private readonly bool _flipSinToCos;
    private readonly float _freqShift;

    /// <summary>Width of the sinusoidal projection (block_out_channels[0] in the UNet).</summary>
    public int ProjectionDim { get; }
    public int EmbedDim => _linear2.Out;

    public TimestepEmbedding(IOps ops, IWeightSource w, string prefix, int projectionDim, bool flipSinToCos, float freqShift)
    {
        _ops = ops;
        ProjectionDim = projectionDim;
        _flipSinToCos = flipSinToCos;
        _freqShift = freqShift;
        _linear1 = new LinearLayer(w, prefix + ".linear_1", requireBias: true);
        _linear2 = new LinearLayer(w, prefix + ".linear_2", requireBias: true);
        if (_linear1.In != projectionDim || _linear2.In != _linear1.Out)
            throw new PisaException($"{prefix}: linear_1 [{ShapeUtil.Format(_linear1.Weight.Shape)}] / linear_2 do not fit a {projectionDim}-wide time projection");
    }

    /// <summary>emb = linear_2(silu(linear_1(sinusoid(t)))), [1, EmbedDim].</summary>
    public DeviceTensor Forward(float timestep)
    {
        var proj = _ops.Upload(new HostTensor([1, ProjectionDim], Sinusoid(timestep, ProjectionDim, _flipSinToCos, _freqShift)));
        var h = _linear1.Apply(_ops, proj);
        proj.Dispose();
        var a = _ops.Silu(h);
        h.Dispose();
        var y = _linear2.Apply(_ops, a);
        a.Dispose();
        return y;
    }

    /// <summary>The same on the host (float64 accumulation): a [EmbedDim] vector, for folding into biases.</summary>
    public float[] ForwardHost(float timestep)
    {
        var h = _linear1.ApplyHost(Sinusoid(timestep, ProjectionDim, _flipSinToCos, _freqShift));
        for (int i = 0; i < h.Length; i++) h[i] = h[i] / (1f + MathF.Exp(-h[i]));
        var y = _linear2.ApplyHost(h);
        // The result is folded into biases once per timestep value: the weights can be made again if another comes.
        _linear1.Weight.ReleaseData();
        _linear2.Weight.ReleaseData();
        return y;
    }

    /// <summary>
    /// diffusers get_timestep_embedding for one timestep (max_period 10000, scale 1), float32 arithmetic in the
    /// same order: freq_i = exp(-ln(10000) * i / (half - shift)); [sin(t f), cos(t f)], swapped when flipSinToCos;
    /// an odd width gets a trailing zero.
    /// </summary>
    public static float[] Sinusoid(float timestep, int dim, bool flipSinToCos, float freqShift)
    {
        int half = dim / 2;
        var emb = new float[dim];
        float negLogMax = (float)-Math.Log(10000.0);
        float denom = half - freqShift;
        for (int i = 0; i < half; i++)
        {
            float exponent = negLogMax * i / denom;
            float arg = timestep * MathF.Exp(exponent);
            float s = MathF.Sin(arg), c = MathF.Cos(arg);
            emb[i] = flipSinToCos ? c : s;
            emb[half + i] = flipSinToCos ? s : c;
        }
        return emb;
    }
}
