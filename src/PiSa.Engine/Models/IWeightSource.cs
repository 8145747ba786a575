using PiSa.Engine.Tensors;

namespace PiSa.Engine.Models;

/// <summary>
/// Named float32 parameters of one model (names exactly as diffusers/transformers state dicts have them,
/// e.g. "down_blocks.0.resnets.0.conv1.weight"). Implementations must return the SAME HostTensor object
/// for the same name on every call: backends cache their packed copies by identity.
/// </summary>
public interface IWeightSource
{
    bool Contains(string name);
    /// <summary>The tensor, or a clear error naming the missing parameter and the model.</summary>
    HostTensor Get(string name);
    IEnumerable<string> Names { get; }
    /// <summary>The shape of a tensor without materialising it (file-backed sources read only the header).</summary>
    int[] ShapeOf(string name) => Get(name).Shape;
}

/// <summary>
/// A weight source that can produce a tensor again (from its file, or from its seed), so a cached copy may be
/// dropped: after <see cref="Evict"/> the next Get returns a new object with the same values. Merged LoRA sets
/// use it to release a base weight once its merged replacement exists.
/// </summary>
public interface IReloadableWeightSource : IWeightSource
{
    void Evict(string name);
}

/// <summary>A weight source over an in-memory dictionary (tests, random-weight models, merged LoRA sets).</summary>
public sealed class DictionaryWeightSource : IWeightSource
{
    private readonly IReadOnlyDictionary<string, HostTensor> _tensors;
    private readonly string _what;

    public DictionaryWeightSource(IReadOnlyDictionary<string, HostTensor> tensors, string what)
    {
        _tensors = tensors;
        _what = what;
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);
    public HostTensor Get(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{_what}: missing parameter '{name}'");
    public IEnumerable<string> Names => _tensors.Keys;
}
