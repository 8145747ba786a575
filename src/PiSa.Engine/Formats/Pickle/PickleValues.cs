using PiSa.Engine.Tensors;

namespace PiSa.Engine.Formats.Pickle;

// The plain values a restricted unpickle produces. Python values map to:
//   dict -> PickleDict, list -> List<object?>, tuple -> PickleTuple, int -> long, float -> double,
//   str -> string, bool -> bool, None -> null, tensor -> HostTensor (built by the caller's tensor factory).

/// <summary>A Python tuple (immutable once built; kept distinct from lists).</summary>
public sealed class PickleTuple : IReadOnlyList<object?>
{
    internal readonly object?[] Items;
    public PickleTuple(object?[] items) { Items = items; }
    public object? this[int index] => Items[index];
    public int Count => Items.Length;
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)Items).GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => Items.GetEnumerator();
    public override string ToString() => $"tuple({Items.Length})";
}

/// <summary>A Python dict (or OrderedDict) with string or integer keys, in insertion order.</summary>
public sealed class PickleDict : OrderedDictionary<object, object?>
{
}

/// <summary>One of the allowed globals, as it sits on the unpickler stack.</summary>
public sealed record PickleGlobal(string Module, string Name, PickleGlobalKind Kind, TorchElementType StorageType = default)
{
    public string FullName => Module + "." + Name;
    public override string ToString() => FullName;
}

public enum PickleGlobalKind { RebuildTensorV2, RebuildParameter, StorageType, OrderedDict }

/// <summary>A storage named by a persistent id ('storage', type, key, location, numel).</summary>
public sealed record TorchStorageRef(string Key, TorchElementType ElementType, long ElementCount, string Location);

/// <summary>The arguments of one torch._utils._rebuild_tensor_v2 call, checked against the declared storage size.</summary>
public sealed record TorchTensorSpec(TorchStorageRef Storage, long Offset, int[] Size, long[] Stride);

/// <summary>Turns a checked tensor spec into a tensor (the torch reader reads the storage bytes).</summary>
public delegate HostTensor TorchTensorFactory(TorchTensorSpec spec);
