using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models;

/// <summary>
/// Deterministic random weights for a model description (name + shape list), for speed and correctness
/// checks at the real SD2.1 shapes when no real weights can be had. Each tensor is drawn from its own
/// stream seeded by (seed, name), so the result does not depend on enumeration order or on which subset
/// is materialised. Scales keep activations O(1) as in a trained model: conv/linear weights
/// N(0, 1/fan_in), norm scales near 1, small biases, embeddings N(0, 0.02) — the pre-norm layers re-normalise.
/// </summary>
public static class RandomWeights
{
    public static HostTensor Make(string name, int[] shape, ulong seed)
    {
        var t = new HostTensor(shape);
        var rng = new SplitMix(seed ^ Fnv1a(name));
        var data = t.Data;
        bool isBias = name.EndsWith(".bias", StringComparison.Ordinal);
        bool isNorm = name.Contains("norm", StringComparison.Ordinal);
        bool isEmbedding = name.Contains("embedding.weight", StringComparison.Ordinal) && !name.Contains("time_embedding", StringComparison.Ordinal);
        if (name.EndsWith("position_ids", StringComparison.Ordinal))
        {
            for (int i = 0; i < data.Length; i++) data[i] = i % shape[^1];
            return t;
        }
        if (isNorm && !isBias) { for (int i = 0; i < data.Length; i++) data[i] = 1f + 0.1f * rng.NextGaussian(); return t; }
        if (isNorm || isBias) { for (int i = 0; i < data.Length; i++) data[i] = 0.02f * rng.NextGaussian(); return t; }
        if (isEmbedding) { for (int i = 0; i < data.Length; i++) data[i] = 0.02f * rng.NextGaussian(); return t; }
        if (name.Contains(".lora_B.", StringComparison.Ordinal))
        {
            // LoRA deltas about a tenth of the base weight after the peft scaling (2.0 at rank 4).
            for (int i = 0; i < data.Length; i++) data[i] = 0.025f * rng.NextGaussian();
            return t;
        }
        long fanIn = 1;
        for (int i = 1; i < shape.Length; i++) fanIn *= shape[i];
        float std = (float)(1.0 / Math.Sqrt(Math.Max(1, fanIn)));
        for (int i = 0; i < data.Length; i++) data[i] = std * rng.NextGaussian();
        return t;
    }

    /// <summary>A weight source that materialises every listed tensor (lazily, once) from the seed.</summary>
    public static IWeightSource Source(IEnumerable<(string Name, int[] Shape)> specs, ulong seed, string what)
        => new LazyRandomSource(specs.ToDictionary(s => s.Name, s => s.Shape), seed, what);

    private sealed class LazyRandomSource(Dictionary<string, int[]> shapes, ulong seed, string what) : IReloadableWeightSource
    {
        private readonly Dictionary<string, HostTensor> _made = [];
        private readonly Lock _lock = new();
        public bool Contains(string name) => shapes.ContainsKey(name);
        public IEnumerable<string> Names => shapes.Keys;
        // Shape checks must not materialise the tensors (gigabytes at the SD 2.1 shapes).
        public int[] ShapeOf(string name) => shapes.TryGetValue(name, out var s) ? (int[])s.Clone() : throw new PisaException($"{what}: missing parameter '{name}'");
        public HostTensor Get(string name)
        {
            lock (_lock)
            {
                if (_made.TryGetValue(name, out var t)) return t;
                if (!shapes.TryGetValue(name, out var shape)) throw new PisaException($"{what}: missing parameter '{name}'");
                // The seed makes the same values again: the float copy may be released once packed.
                t = HostTensor.Reloadable(shape, Make(name, shape, seed).Data, () => Make(name, shape, seed).Data);
                _made[name] = t;
                return t;
            }
        }

        /// <summary>The values come back identical from the seed.</summary>
        public void Evict(string name)
        {
            lock (_lock) _made.Remove(name);
        }
    }

    private static ulong Fnv1a(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) { h ^= c; h *= 1099511628211UL; }
        return h;
    }

    /// <summary>SplitMix64 with Box-Muller: tiny, fast, and the same on every platform and .NET version.</summary>
    private struct SplitMix(ulong state)
    {
        private ulong _s = state;
        private float _spare = float.NaN;

        private ulong Next()
        {
            ulong z = _s += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        private double NextUnit() => ((Next() >> 11) + 0.5) * (1.0 / (1UL << 53));

        public float NextGaussian()
        {
            if (!float.IsNaN(_spare)) { float s = _spare; _spare = float.NaN; return s; }
            double r = Math.Sqrt(-2.0 * Math.Log(NextUnit())), a = 2 * Math.PI * NextUnit();
            _spare = (float)(r * Math.Sin(a));
            return (float)(r * Math.Cos(a));
        }
    }
}
