using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Engine.Formats;

/// <summary>
/// An <see cref="IWeightSource"/> over one or more safetensors files (sharded models): each float tensor
/// is converted on first use and cached, so every call for a name returns the same HostTensor object
/// (reloadable: its float copy may be released and is then read from the file again).
/// A name present in two files is refused at open. Owns (and disposes) the files.
/// </summary>
public sealed class SafetensorsWeightSource : IReloadableWeightSource, IDisposable
{
    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _owner = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostTensor> _cache = new(StringComparer.Ordinal);
    private readonly List<string> _names = new();
    private readonly Lock _lock = new();

    private SafetensorsWeightSource(List<SafetensorsFile> files)
    {
        _files = files;
        foreach (var f in files)
        {
            foreach (var e in f.Entries)
            {
                if (_owner.TryGetValue(e.Name, out var other))
                    throw new PisaException($"tensor '{e.Name}' is in both '{other.Path}' and '{f.Path}'");
                _owner[e.Name] = f;
                _names.Add(e.Name);
            }
        }
    }

    public static SafetensorsWeightSource Open(params string[] paths)
    {
        if (paths.Length == 0) throw new ArgumentException("no safetensors files given", nameof(paths));
        var files = new List<SafetensorsFile>();
        try
        {
            foreach (var p in paths) files.Add(SafetensorsFile.Open(p));
            return new SafetensorsWeightSource(files);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    public IReadOnlyList<SafetensorsFile> Files => _files;
    public IEnumerable<string> Names => _names;
    public bool Contains(string name) => _owner.ContainsKey(name);

    public HostTensor Get(string name)
    {
        lock (_lock)
        {
            if (_cache.TryGetValue(name, out var t)) return t;
            if (!_owner.TryGetValue(name, out var file))
                throw new PisaException($"missing parameter '{name}' in {Describe()}");
            var read = file.ReadFloat(name);
            // The file is mapped: a backend that packed this weight may drop the float copy and re-read it here.
            t = HostTensor.Reloadable(read.Shape, read.Data, () => file.ReadFloat(name).Data);
            _cache[name] = t;
            return t;
        }
    }

    /// <summary>The stored shape, read from the header: nothing is converted.</summary>
    public int[] ShapeOf(string name) => GetEntry(name).Shape;

    /// <summary>The stored entry (dtype, shape) without converting anything.</summary>
    public SafetensorsEntry GetEntry(string name) =>
        _owner.TryGetValue(name, out var f) ? f.GetEntry(name) : throw new PisaException($"missing parameter '{name}' in {Describe()}");

    /// <summary>Drops the cached float copy of a tensor (e.g. after a backend uploaded it). A later Get returns a
    /// NEW object, so only evict what no backend will ask for again.</summary>
    public void Evict(string name)
    {
        lock (_lock) _cache.Remove(name);
    }

    private string Describe() => _files.Count == 1 ? $"'{_files[0].Path}'" : $"'{_files[0].Path}' (+{_files.Count - 1} files)";

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
