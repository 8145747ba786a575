using PiSa.Engine.Backends;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models.Vae;

/// <summary>
/// Runs a line of <see cref="VaeStep"/>s on one tensor (the whole image, or one tile), keeping the current
/// activation and the pending residual. It can stop in front of each GroupNorm so that a caller can
/// supply statistics pooled over several tiles (<see cref="RunUntilNorm"/> / <see cref="ApplyNorm"/>);
/// <see cref="RunToEnd"/> runs every norm with its own statistics (the plain forward).
///
/// Ownership: the input tensor stays the caller's; every tensor the cursor creates is disposed as soon
/// as it is no longer needed, and the final result is handed over by <see cref="TakeResult"/>.
/// </summary>
public sealed class VaeStepCursor : IDisposable
{
    private readonly IOps _ops;
    private readonly IReadOnlyList<VaeStep> _steps;
    private int _pos;
    private DeviceTensor? _cur;
    private bool _ownsCur;
    private DeviceTensor? _res;
    private bool _ownsRes;

    private readonly CancellationToken _ct;

    /// <param name="ct">checked before every step (a cancelled run throws there; Dispose frees what the cursor holds)</param>
    public VaeStepCursor(IOps ops, IReadOnlyList<VaeStep> steps, DeviceTensor input, bool ownsInput = false, CancellationToken ct = default)
    {
        _ct = ct;
        _ops = ops;
        _steps = steps;
        _cur = input;
        _ownsCur = ownsInput;
    }

    /// <summary>The activation as it stands now (after the last step run).</summary>
    public DeviceTensor Current => _cur ?? throw new ObjectDisposedException(nameof(VaeStepCursor));
    public bool Finished => _pos >= _steps.Count;

    /// <summary>Runs steps up to (not including) the next GroupNorm and returns that norm, or null at the end.</summary>
    public VaeNormStep? RunUntilNorm()
    {
        while (_pos < _steps.Count)
        {
            if (_steps[_pos] is VaeNormStep norm) return norm;
            _ct.ThrowIfCancellationRequested();
            RunOne(_steps[_pos]);
            _pos++;
        }
        return null;
    }

    /// <summary>Applies the pending GroupNorm with externally supplied per-(batch, group) (mean, var) pairs.</summary>
    public void ApplyNorm(float[] meanVar)
    {
        if (_pos >= _steps.Count || _steps[_pos] is not VaeNormStep norm)
            throw new InvalidOperationException("VAE step cursor: ApplyNorm called while no GroupNorm is pending");
        SetCurrent(_ops.GroupNormApply(Current, meanVar, norm.Gamma, norm.Beta, norm.Groups, norm.Eps, norm.Silu));
        _pos++;
    }

    /// <summary>Runs all remaining steps, each GroupNorm with the statistics of this tensor alone.</summary>
    public void RunToEnd()
    {
        while (RunUntilNorm() is { } norm)
        {
            SetCurrent(_ops.GroupNorm(Current, norm.Gamma, norm.Beta, norm.Groups, norm.Eps, norm.Silu));
            _pos++;
        }
    }

    /// <summary>The final activation; the caller owns it afterwards.</summary>
    public DeviceTensor TakeResult()
    {
        if (!Finished) throw new InvalidOperationException("VAE step cursor: result taken before the last step");
        if (!_ownsCur) throw new InvalidOperationException("VAE step cursor: an empty step list has no result of its own");
        var r = _cur!;
        _cur = null;
        _ownsCur = false;
        return r;
    }

    /// <summary>Moves the tensors of this cursor to host memory and frees their device copies (the tiled
    /// VAE parks tiles between norm rounds like VAEHook's tile.cpu()). <see cref="Unpark"/> brings them back.</summary>
    public void Park()
    {
        if (_parkedCur != null) return;
        bool shared = _res != null && ReferenceEquals(_res, _cur);
        _parkedCur = _ops.Download(Current);
        _parkedRes = _res == null ? null : shared ? _parkedCur : _ops.Download(_res);
        DropResidual();
        if (_ownsCur && !shared) _cur!.Dispose();
        _cur = null;
        _ownsCur = false;
    }

    public void Unpark()
    {
        if (_parkedCur == null) return;
        _cur = _ops.Upload(_parkedCur);
        _ownsCur = true;
        if (_parkedRes != null)
        {
            if (ReferenceEquals(_parkedRes, _parkedCur))
            {
                _res = _cur; _ownsRes = true; _ownsCur = false;
            }
            else
            {
                _res = _ops.Upload(_parkedRes); _ownsRes = true;
            }
        }
        _parkedCur = null;
        _parkedRes = null;
    }

    private HostTensor? _parkedCur, _parkedRes;

    /// <summary>Runs the step at _pos (an upsampling followed by its conv runs both, and moves _pos onto the conv).</summary>
    private void RunOne(VaeStep step)
    {
        switch (step)
        {
            case VaeSaveResidualStep s:
                DropResidual();
                if (s.ShortcutWeight == null)
                {
                    // Identity shortcut: the residual IS the current tensor; ownership moves to the residual slot.
                    _res = Current;
                    _ownsRes = _ownsCur;
                    _ownsCur = false;
                }
                else
                {
                    _res = _ops.Conv2d(Current, s.ShortcutWeight, s.ShortcutBias, 1, Pad2d.Same(0));
                    _ownsRes = true;
                }
                break;
            case VaeConvStep c:
            {
                var r = c.AddsResidual ? Residual(c) : null;
                SetCurrent(_ops.Conv2d(Current, c.Weight, c.Bias, c.Stride, c.Pad, r));
                if (c.AddsResidual) DropResidual();
                break;
            }
            case VaeUpsampleStep when _pos + 1 < _steps.Count && _steps[_pos + 1] is VaeConvStep { AddsResidual: false } c:
                // Upsample2D's conv reads the 2x image from the small one (IOps.Conv2dUpsampled): the upsampled
                // tensor never exists on a fusing backend. The conv step is consumed here too.
                SetCurrent(_ops.Conv2dUpsampled(Current, 2 * Current.Dim(1), 2 * Current.Dim(2), c.Weight, c.Bias, c.Stride, c.Pad));
                _pos++;
                break;
            case VaeUpsampleStep:
                SetCurrent(_ops.UpsampleNearest2x(Current));
                break;
            case VaeAttentionStep a:
                SetCurrent(RunAttention(a));
                DropResidual();
                break;
            default:
                throw new InvalidOperationException($"VAE step cursor: unexpected step {step}");
        }
    }

    private DeviceTensor Residual(VaeStep step) =>
        _res ?? throw new InvalidOperationException($"VAE step {step}: no residual was saved");

    private DeviceTensor RunAttention(VaeAttentionStep a)
    {
        // NHWC [N, H, W, C] is already [N, H*W, C] in memory: attention over all positions of this tensor.
        var x = Current;
        int n = x.Dim(0), h = x.Dim(1), w = x.Dim(2), c = x.Dim(3);
        var seq = _ops.Reshape(x, n, h * w, c);
        var res = _ops.Reshape(Residual(a), n, h * w, c);
        // One fused QKV projection [N, HW, 3C]; attention reads its three channel windows in place.
        var (qkvW, qkvB) = a.Qkv;
        var qkv = _ops.Linear(seq, qkvW, qkvB);
        var att = _ops.AttentionWindows(qkv, 0, qkv, c, 2 * c, c, a.Heads, causal: false);
        qkv.Dispose();
        var o = _ops.Linear(att, a.OutWeight, a.OutBias, res);
        att.Dispose();
        // The reshaped views share storage with x / the residual, which SetCurrent/DropResidual dispose.
        return _ops.Reshape(o, n, h, w, c);
    }

    private void SetCurrent(DeviceTensor t)
    {
        if (_ownsCur) _cur!.Dispose();
        _cur = t;
        _ownsCur = true;
    }

    private void DropResidual()
    {
        if (_res != null && _ownsRes) _res.Dispose();
        _res = null;
        _ownsRes = false;
    }

    public void Dispose()
    {
        DropResidual();
        if (_ownsCur) _cur?.Dispose();
        _cur = null;
        _ownsCur = false;
    }
}
