using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Tests;

/// <summary>
/// Wraps a weight source and notes every tensor a model reads (name and shape), so tests can check that
/// a model uses exactly the tensors its file or description holds; <paramref name="drop"/> hides one
/// tensor, to check the model fails naming it.
/// </summary>
public sealed class RecordingWeightSource(IWeightSource inner, string? drop = null) : IWeightSource
{
    /// <summary>The tensors read so far, by name, with the shape the source gave.</summary>
    public Dictionary<string, int[]> Used { get; } = [];

    public bool Contains(string name) => name != drop && inner.Contains(name);
    public IEnumerable<string> Names => inner.Names.Where(n => n != drop);

    public HostTensor Get(string name)
    {
        if (name == drop) throw new KeyNotFoundException(name);
        var t = inner.Get(name);
        Used[name] = t.Shape;
        return t;
    }
}
