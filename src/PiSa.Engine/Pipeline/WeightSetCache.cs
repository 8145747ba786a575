using PiSa.Engine.Backends;
using PiSa.Engine.Lora;
using PiSa.Engine.Models;
using PiSa.Engine.Models.Unet;

namespace PiSa.Engine.Pipeline;

/// <summary>
/// The UNets of the LoRA weight sets ("pisa", "pix", "fused" at given lambdas), least recently used first out,
/// within a byte budget. A set's size is estimated before it is built, from the shapes of the tensors its
/// LoRAs change (everything else is the base objects, shared by all sets): the backend's packed copy
/// (<see cref="IOps.PackedWeightBytesPerElement"/>) plus 4 bytes per element for the merged fp32 host copy, unless the
/// backend releases it after packing and the merge can be redone from a reloadable base (<see cref="BytesPerElement"/>).
/// Sets used by the run in progress (<see cref="BeginRun"/> marks a new run) are never evicted, so the adjustable
/// mode's two sets cannot push each other out tile after tile; a budget smaller than one run's sets is exceeded
/// for that run rather than failing, and restored at the next run's first lookup. An evicted set's UNet is disposed (its cached cross-attention K/V) and its merged tensors are released from the backend's weight cache (<see cref="IWeightRelease"/>).
/// On a device backend the budget keeps sets on the host only: device memory is what the run's plan counts
/// (<see cref="DeviceMemoryEstimator"/>: the sets of one run), so when a set must be uploaded (new, or released
/// before) the device copies of every set the current run has not used are released first
/// (<see cref="UNet2DConditionModel.ReleaseBackendCopies"/>; the set stays cached and is uploaded again if used).
/// Without this, each new fused lambda pair of a `pisa serve` request added a set's weights on the device until the
/// host budget evicted one. The device then holds at most the largest run's sets: a run only adds a set after the
/// idle ones are gone.
/// Not thread-safe: the model is used by one worker at a time (see PisaUpscaler).
/// </summary>
public sealed class WeightSetCache(IOps ops, UNetConfig config, IWeightSource unetBase, PisaCheckpoint lora, long budgetBytes)
{
    private sealed class Entry(string key, UNet2DConditionModel unet, LoraMergedWeightSource weights, long bytes)
    {
        public string Key => key;
        public UNet2DConditionModel UNet => unet;
        public LoraMergedWeightSource Weights => weights;
        public long Bytes => bytes;
        public long LastRun;
        /// <summary>Whether the backend may hold device copies of this set (false once released while idle).</summary>
        public bool OnDevice;
    }

    private readonly LinkedList<Entry> _lru = new(); // most recently used first
    private readonly Dictionary<string, LinkedListNode<Entry>> _byKey = new(StringComparer.Ordinal);
    private long _run;

    public long BudgetBytes => budgetBytes;
    public long Bytes => _lru.Sum(e => e.Bytes);
    public IReadOnlyList<string> Keys => _lru.Select(e => e.Key).ToList();
    public int Evictions { get; private set; }
    /// <summary>Times an idle set's device copies were released to make room for another set's (see the summary).</summary>
    public int DeviceReleases { get; private set; }
    /// <summary>Weight sets built (merged) so far; a call that raised it was a cold one (PisaUpscaler says so).</summary>
    public int Builds { get; private set; }

    /// <summary>A new run starts: sets it touches from now on are pinned until the next call. With
    /// <paramref name="keys"/> (<see cref="KeyOf"/>, the sets the run will use), a device backend first releases the
    /// device copies of every other set, so the run holds what its plan counts (a default run after a fused one
    /// that also ran the exact pair would otherwise keep three sets on the device).</summary>
    public void BeginRun(IReadOnlyCollection<string>? keys = null)
    {
        _run++;
        if (keys is not null) ReleaseDeviceCopies(e => !keys.Contains(e.Key));
    }

    public static string KeyOf(string set, float lambdaPix, float lambdaSem) => set switch
    {
        "pisa" or "pix" => set,
        "fused" => $"fused:{lambdaPix:R}:{lambdaSem:R}",
        _ => throw new ArgumentException($"unknown weight set '{set}'"),
    };

    public UNet2DConditionModel Get(string set, float lambdaPix = 1, float lambdaSem = 1)
    {
        string key = KeyOf(set, lambdaPix, lambdaSem);
        if (_byKey.TryGetValue(key, out var node))
        {
            node.Value.LastRun = _run;
            _lru.Remove(node);
            _lru.AddFirst(node);
            MakeRoom(0); // a budget exceeded by the previous run's pinned sets is restored here
            if (!node.Value.OnDevice) ReleaseIdleDeviceCopies();   // it will be uploaded again
            node.Value.OnDevice = true;
            return node.Value.UNet;
        }
        var weights = set switch
        {
            "pisa" => LoraMerger.PisaWeights(unetBase, lora),
            "pix" => LoraMerger.PixWeights(unetBase, lora),
            _ => LoraMerger.FusedWeights(unetBase, lora, lambdaPix, lambdaSem),
        };
        long bytes = EstimateBytes(weights);
        Builds++;
        MakeRoom(bytes);
        ReleaseIdleDeviceCopies();
        var entry = new Entry(key, new UNet2DConditionModel(config, weights, ops), weights, bytes) { LastRun = _run, OnDevice = true };
        _byKey[key] = _lru.AddFirst(entry);
        // Building a merged set evicted the base copies it replaced (gigabytes at SD 2.1): collect them now, before
        // the backend adds its packed copies on the first forward, instead of at a later peak.
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect();
        return entry.UNet;
    }

    /// <summary>Bytes a merged weight set holds per element it changes.</summary>
    public long BytesPerElement =>
        ops.PackedWeightBytesPerElement + (ops.ReleasesHostWeightsWhenPacked && unetBase is IReloadableWeightSource ? 0 : 4);

    private long EstimateBytes(LoraMergedWeightSource weights)
    {
        long elements = 0;
        foreach (var name in weights.MergedNames)
            elements += weights.ShapeOf(name).Aggregate(1L, (a, d) => a * d);
        return elements * BytesPerElement;
    }

    /// <summary>Evicts least recently used sets not pinned by the current run until <paramref name="incoming"/> fits.</summary>
    private void MakeRoom(long incoming)
    {
        long total = Bytes;
        var node = _lru.Last;
        while (node != null && total + incoming > budgetBytes)
        {
            var prev = node.Previous;
            if (node.Value.LastRun != _run)
            {
                total -= node.Value.Bytes;
                Evict(node);
            }
            node = prev;
        }
    }

    private void Evict(LinkedListNode<Entry> node)
    {
        _lru.Remove(node);
        _byKey.Remove(node.Value.Key);
        node.Value.UNet.ReleaseBackendCopies();   // its cached cross-attention K/V and what its passes uploaded
        // Merged tensors a caller handed to the backend outside a UNet pass are the set's alone too.
        if (ops is IWeightRelease release) release.ReleaseWeights(node.Value.Weights.MergedTensors);
        Evictions++;
    }

    /// <summary>On a device backend, releases the device copies of the cached sets the current run has not used.</summary>
    private void ReleaseIdleDeviceCopies() => ReleaseDeviceCopies(e => e.LastRun != _run);

    /// <summary>On a device backend, releases the device copies of the cached sets <paramref name="release"/> picks
    /// (they stay cached on the host and are uploaded again when used).</summary>
    private void ReleaseDeviceCopies(Func<Entry, bool> release)
    {
        if (ops is not IWeightRelease || !ops.HasDeviceMemory) return;
        foreach (var e in _lru)
            if (e.OnDevice && release(e))
            {
                e.UNet.ReleaseBackendCopies();
                e.OnDevice = false;
                DeviceReleases++;
            }
    }

    public void Clear()
    {
        while (_lru.Last is { } n) Evict(n);
        Evictions = 0;
    }
}
