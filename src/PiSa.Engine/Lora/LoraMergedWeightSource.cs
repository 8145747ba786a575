using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Lora;

/// <summary>
/// The UNet weights with the PiSA LoRAs merged at (lambda_pix, lambda_sem): <c>&lt;module&gt;.weight</c> of every
/// module carrying an active adapter is W_sd + lambda_pix dW_pix + lambda_sem dW_sem, computed on first use and
/// cached (same object on every call); every other name returns the base source's own HostTensor object, so
/// backends holding several weight sets share everything the LoRAs do not touch. A zero coefficient drops
/// that LoRA entirely (W_pix at (1, 0) leaves semantic-only modules as the base objects).
/// The checkpoint is validated against the base weights at construction.
/// </summary>
public sealed class LoraMergedWeightSource : IWeightSource
{
    private readonly IWeightSource _base;
    private readonly Dictionary<string, List<(LoraAdapter, float)>> _active = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostTensor> _merged = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public PisaCheckpoint Checkpoint { get; }
    public float LambdaPix { get; }
    public float LambdaSem { get; }
    public IWeightSource Base => _base;

    public LoraMergedWeightSource(IWeightSource baseWeights, PisaCheckpoint checkpoint, float lambdaPix, float lambdaSem)
    {
        if (!float.IsFinite(lambdaPix) || !float.IsFinite(lambdaSem))
            throw new PisaException($"LoRA coefficients ({lambdaPix}, {lambdaSem}) must be finite");
        _base = baseWeights;
        Checkpoint = checkpoint;
        LambdaPix = lambdaPix;
        LambdaSem = lambdaSem;
        checkpoint.ValidateAgainst(baseWeights);
        // Adapters are ordered pix then sem, which fixes the summation order of Merge.
        foreach (var a in checkpoint.Adapters)
        {
            float coef = a.Kind == LoraKind.Pix ? lambdaPix : lambdaSem;
            if (coef == 0) continue;
            if (!_active.TryGetValue(a.WeightName, out var list)) _active[a.WeightName] = list = new();
            list.Add((a, coef));
        }
    }

    /// <summary>Names of the weights this set changes (the others are the base objects).</summary>
    public IEnumerable<string> MergedNames => _active.Keys;

    /// <summary>The merged tensors made so far: objects of this set alone (never shared with another set), so a
    /// backend may free its copies of them when the set is retired.</summary>
    public IReadOnlyList<HostTensor> MergedTensors
    {
        get { lock (_lock) return [.. _merged.Values]; }
    }

    public bool Contains(string name) => _base.Contains(name);
    public IEnumerable<string> Names => _base.Names;
    /// <summary>Merging never changes a shape: ask the base, so no merge (or conversion) happens for it.</summary>
    public int[] ShapeOf(string name) => _base.ShapeOf(name);

    public HostTensor Get(string name)
    {
        if (!_active.TryGetValue(name, out var deltas)) return _base.Get(name);
        lock (_lock)
        {
            if (!_merged.TryGetValue(name, out var t))
            {
                var m = MergeFromBase(name, deltas);
                // Where the base re-reads its weights the merge can be redone (bit-identical), so a backend that
                // packed the merged weight may release its float copy.
                t = _base is IReloadableWeightSource
                    ? HostTensor.Reloadable(m.Shape, m.Data, () => MergeFromBase(name, deltas).Data)
                    : m;
                _merged[name] = t;
            }
            return t;
        }
    }

    private HostTensor MergeFromBase(string name, List<(LoraAdapter, float)> deltas)
    {
        var baseWeight = _base.Get(name);
        var merged = LoraMerger.Merge(baseWeight, deltas);
        // The base copy is dead weight now (a full fp32 copy of most of the UNet otherwise): drop it where
        // the base can re-read it; another set that needs it gets a fresh copy. Releasing its data as well counts
        // it as garbage to collect (ReleasedWeightMemory) even while some other holder keeps the object.
        if (_base is IReloadableWeightSource reloadable)
        {
            reloadable.Evict(name);
            baseWeight.ReleaseData();
        }
        return merged;
    }
}
