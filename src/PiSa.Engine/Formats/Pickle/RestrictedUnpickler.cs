using System.Buffers.Binary;
using System.Text;
using PiSa.Engine.Tensors;
using static PiSa.Engine.Formats.Pickle.PickleOpcodes;

namespace PiSa.Engine.Formats.Pickle;

/// <summary>
/// A pickle interpreter for torch state dicts that never runs anything: a flat stack machine over the
/// opcodes a state dict needs, a fixed allow-list of globals (tensor rebuild functions, storage types,
/// OrderedDict) that are interpreted here rather than looked up, and hard caps on stack, memo and
/// nesting. Anything else (other globals, INST/OBJ/NEWOBJ/BUILD, REDUCE on anything but an allowed
/// function) is refused with a <see cref="PisaException"/> naming it.
/// </summary>
public sealed class RestrictedUnpickler
{
    public const int MaxStack = 1 << 22;
    public const int MaxMemo = 1 << 22;
    /// <summary>Deepest MARK nesting and deepest container nesting of the result.</summary>
    public const int MaxNesting = 200;
    public const int MaxTensorRank = 16;
    /// <summary>
    /// The budget on the object graph: values ever pushed, where a memo read (BINGET) counts as one value, a
    /// reference, never as a copy of what it refers to. Every container slot holds a pushed value, so this also
    /// bounds the references in the graph (and the memory a small hostile pickle can make us allocate); the
    /// release's pisa_sr.pkl pushes under 100,000.
    /// </summary>
    public const long MaxValues = 1L << 24;

    private readonly byte[] _data;
    private readonly string _source;
    private readonly TorchTensorFactory _tensors;
    private readonly List<object?> _stack = new();
    private readonly List<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private readonly Dictionary<string, TorchStorageRef> _storages = new(StringComparer.Ordinal);
    private int _pos;
    private long _pushes;

    private RestrictedUnpickler(byte[] data, string source, TorchTensorFactory tensors)
    {
        _data = data;
        _source = source;
        _tensors = tensors;
    }

    /// <summary>Unpickles <paramref name="data"/>; tensors are built by <paramref name="tensors"/> from checked specs.</summary>
    /// <param name="source">what to call the pickle in error messages (file and entry)</param>
    public static object? Load(byte[] data, string source, TorchTensorFactory tensors)
    {
        var u = new RestrictedUnpickler(data, source, tensors);
        object? result = u.Run();
        PickleGraph.CheckDepth(result, MaxNesting, source);
        return result;
    }

    private object? Run()
    {
        while (true)
        {
            if (_pos >= _data.Length) throw Fail("ends without STOP");
            int at = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case PROTO:
                    int proto = ReadByte();
                    if (proto > 5) throw Fail($"pickle protocol {proto} is not supported");
                    break;
                case FRAME:
                    Take(8); // framing only groups opcodes; the content is read as a flat stream
                    break;
                case STOP:
                    if (_stack.Count == 0) throw Fail("STOP with an empty stack");
                    if (_marks.Count != 0) throw Fail("STOP with an open MARK");
                    return _stack[^1];

                case GLOBAL:
                    Push(ResolveGlobal(ReadLine(), ReadLine()));
                    break;
                case STACK_GLOBAL:
                {
                    object? name = Pop(), module = Pop();
                    if (module is not string m || name is not string n)
                        throw Fail($"STACK_GLOBAL with non-string arguments ({TypeName(module)}, {TypeName(name)})");
                    Push(ResolveGlobal(m, n));
                    break;
                }
                case BINPERSID:
                    Push(PersistentStorage(Pop()));
                    break;
                case REDUCE:
                {
                    object? args = Pop(), callable = Pop();
                    Push(Reduce(callable, args));
                    break;
                }

                case EMPTY_DICT: Push(new PickleDict()); break;
                case EMPTY_LIST: Push(new List<object?>()); break;
                case EMPTY_TUPLE: Push(new PickleTuple([])); break;
                case MARK:
                    if (_marks.Count >= MaxNesting) throw Fail($"MARKs nested deeper than {MaxNesting}");
                    _marks.Add(_stack.Count);
                    break;
                case TUPLE: Push(new PickleTuple(PopToMark())); break;
                case TUPLE1: { var a = Pop(); Push(new PickleTuple([a])); break; }
                case TUPLE2: { var b = Pop(); var a = Pop(); Push(new PickleTuple([a, b])); break; }
                case TUPLE3: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PickleTuple([a, b, c])); break; }

                case SETITEM:
                {
                    object? value = Pop(), key = Pop();
                    SetItem(Peek(), key, value);
                    break;
                }
                case SETITEMS:
                {
                    var items = PopToMark();
                    if (items.Length % 2 != 0) throw Fail("SETITEMS with an odd number of items");
                    var target = Peek();
                    for (int i = 0; i < items.Length; i += 2) SetItem(target, items[i], items[i + 1]);
                    break;
                }
                case APPEND:
                {
                    object? value = Pop();
                    AsList(Peek(), "APPEND").Add(value);
                    break;
                }
                case APPENDS:
                {
                    var items = PopToMark();
                    AsList(Peek(), "APPENDS").AddRange(items);
                    break;
                }

                case BINUNICODE: Push(ReadUtf8(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                case SHORT_BINUNICODE: Push(ReadUtf8(ReadByte())); break;
                case BINUNICODE8: Push(ReadUtf8(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))); break;
                case BININT: Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case BININT1: Push((long)ReadByte()); break;
                case BININT2: Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case LONG1: Push(ReadLong1()); break;
                case BINFLOAT: Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case NEWTRUE: Push(true); break;
                case NEWFALSE: Push(false); break;
                case NONE: Push(null); break;

                case BINPUT: Put(ReadByte()); break;
                case LONG_BINPUT: Put(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))); break;
                case MEMOIZE: Put(_memo.Count); break;
                case BINGET: Push(Get(ReadByte())); break;
                case LONG_BINGET: Push(Get(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;

                default:
                    throw Fail($"opcode {Describe(op)} at offset {at} is not allowed");
            }
        }
    }

    // ---- globals and calls -------------------------------------------------------------------------

    private PickleGlobal ResolveGlobal(string module, string name)
    {
        PickleGlobal? g = (module, name) switch
        {
            ("torch._utils", "_rebuild_tensor_v2") => new(module, name, PickleGlobalKind.RebuildTensorV2),
            ("torch._utils", "_rebuild_parameter") => new(module, name, PickleGlobalKind.RebuildParameter),
            ("collections", "OrderedDict") => new(module, name, PickleGlobalKind.OrderedDict),
            ("torch", "FloatStorage") => Storage(TorchElementType.Float32),
            ("torch", "HalfStorage") => Storage(TorchElementType.Float16),
            ("torch", "BFloat16Storage") => Storage(TorchElementType.BFloat16),
            ("torch", "DoubleStorage") => Storage(TorchElementType.Float64),
            ("torch", "LongStorage") => Storage(TorchElementType.Int64),
            ("torch", "IntStorage") => Storage(TorchElementType.Int32),
            ("torch", "ByteStorage") => Storage(TorchElementType.UInt8),
            // An untyped storage holds bytes: torch rebuilds tensors on it as uint8.
            ("torch", "UntypedStorage") or ("torch.storage", "UntypedStorage") => Storage(TorchElementType.UInt8),
            _ => null,
        };
        return g ?? throw Fail($"global '{module}.{name}' is not allowed (only tensor rebuild functions, storage types and OrderedDict are)");

        PickleGlobal Storage(TorchElementType t) => new(module, name, PickleGlobalKind.StorageType, t);
    }

    private object? Reduce(object? callable, object? args)
    {
        if (callable is not PickleGlobal g)
            throw Fail($"REDUCE on a {TypeName(callable)}, not an allowed function");
        if (args is not PickleTuple a)
            throw Fail($"REDUCE of {g.FullName} with {TypeName(args)} arguments, expected a tuple");
        switch (g.Kind)
        {
            case PickleGlobalKind.OrderedDict:
                if (a.Count != 0) throw Fail("collections.OrderedDict called with arguments (only an empty one is allowed)");
                return new PickleDict();
            case PickleGlobalKind.RebuildTensorV2:
                return RebuildTensor(a);
            case PickleGlobalKind.RebuildParameter:
                if (a.Count is < 2 or > 3 || a[0] is not HostTensor t)
                    throw Fail($"torch._utils._rebuild_parameter needs (tensor, requires_grad, hooks), got ({DescribeArgs(a)})");
                return t;
            default:
                throw Fail($"REDUCE on {g.FullName} is not allowed");
        }
    }

    private HostTensor RebuildTensor(PickleTuple a)
    {
        const string fn = "torch._utils._rebuild_tensor_v2";
        if (a.Count is < 4 or > 7)
            throw Fail($"{fn} needs (storage, offset, size, stride, requires_grad, hooks), got {a.Count} arguments");
        if (a[0] is not TorchStorageRef storage)
            throw Fail($"{fn} fed a {TypeName(a[0])} instead of a storage");
        if (a[1] is not long offset || offset < 0)
            throw Fail($"{fn}: storage offset {Show(a[1])} is not a non-negative int");
        long[] size = IntTuple(a[2], fn, "size"), stride = IntTuple(a[3], fn, "stride");
        if (size.Length != stride.Length)
            throw Fail($"{fn}: size has {size.Length} dims but stride has {stride.Length}");
        if (size.Length > MaxTensorRank) throw Fail($"{fn}: {size.Length} dimensions (at most {MaxTensorRank})");

        var shape = new int[size.Length];
        long numel = 1;
        for (int i = 0; i < size.Length; i++)
        {
            if (size[i] < 0 || size[i] > int.MaxValue) throw Fail($"{fn}: size [{string.Join(", ", size)}] has an invalid dimension");
            if (stride[i] < 0) throw Fail($"{fn}: negative stride in [{string.Join(", ", stride)}]");
            shape[i] = (int)size[i];
            numel = size[i] == 0 ? 0 : (numel > int.MaxValue / size[i] ? long.MaxValue : numel * size[i]);
        }
        if (numel > int.MaxValue)
            throw Fail($"{fn}: size [{string.Join(", ", size)}] has more than 2^31-1 elements");

        // The furthest element the view touches must lie inside the storage the persistent id declared.
        if (numel > 0)
        {
            long last = offset;
            for (int i = 0; i < size.Length; i++)
            {
                // Each term is < 2^31 * 2^63 in theory: check instead of trusting.
                if (stride[i] != 0 && size[i] - 1 > (long.MaxValue - last) / stride[i])
                    throw Fail($"{fn}: stride [{string.Join(", ", stride)}] reaches past any storage");
                last += (size[i] - 1) * stride[i];
            }
            if (last >= storage.ElementCount)
                throw Fail($"{fn}: view (offset {offset}, size [{string.Join(", ", size)}], stride [{string.Join(", ", stride)}]) reaches element {last} of storage '{storage.Key}' holding {storage.ElementCount}");
        }
        else if (offset > storage.ElementCount)
            throw Fail($"{fn}: storage offset {offset} is past the end of storage '{storage.Key}' ({storage.ElementCount} elements)");

        if (a.Count >= 6 && a[5] is not (null or PickleDict))
            throw Fail($"{fn}: backward hooks are a {TypeName(a[5])}, expected a dict");
        if (a.Count >= 6 && a[5] is PickleDict { Count: > 0 })
            throw Fail($"{fn}: tensor carries backward hooks (not supported)");
        return _tensors(new TorchTensorSpec(storage, offset, shape, stride));
    }

    private long[] IntTuple(object? v, string fn, string what)
    {
        if (v is not PickleTuple t) throw Fail($"{fn}: {what} is a {TypeName(v)}, expected a tuple of ints");
        var r = new long[t.Count];
        for (int i = 0; i < r.Length; i++)
            r[i] = t[i] is long x ? x : throw Fail($"{fn}: {what} entry {i} is a {TypeName(t[i])}");
        return r;
    }

    private TorchStorageRef PersistentStorage(object? pid)
    {
        if (pid is not PickleTuple t || t.Count != 5 || t[0] is not "storage")
            throw Fail($"persistent id {Show(pid)} is not ('storage', type, key, location, numel)");
        if (t[1] is not PickleGlobal { Kind: PickleGlobalKind.StorageType } type)
            throw Fail($"persistent id names {Show(t[1])} instead of a storage type");
        if (t[2] is not string key || key.Length == 0 || key.Length > 64 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            throw Fail($"persistent id has an invalid storage key {Show(t[2])}");
        if (t[3] is not string location)
            throw Fail($"storage '{key}': location {Show(t[3])} is not a string");
        if (t[4] is not long numel || numel < 0)
            throw Fail($"storage '{key}': element count {Show(t[4])} is not a non-negative int");
        var r = new TorchStorageRef(key, type.StorageType, numel, location);
        if (_storages.TryGetValue(key, out var prev))
        {
            if (prev.ElementType != r.ElementType || prev.ElementCount != r.ElementCount)
                throw Fail($"storage '{key}' is declared twice with different types or sizes");
            return prev;
        }
        _storages[key] = r;
        return r;
    }

    // ---- containers --------------------------------------------------------------------------------

    private void SetItem(object? target, object? key, object? value)
    {
        if (target is not PickleDict d) throw Fail($"SETITEM on a {TypeName(target)}, not a dict");
        if (key is not (string or long)) throw Fail($"dict key of type {TypeName(key)} (only str and int keys are supported)");
        d[key] = value;
    }

    private List<object?> AsList(object? target, string op) =>
        target as List<object?> ?? throw Fail($"{op} on a {TypeName(target)}, not a list");

    // ---- stack and memo ----------------------------------------------------------------------------

    private void Push(object? v)
    {
        if (_stack.Count >= MaxStack) throw Fail($"stack grows past {MaxStack} items");
        if (++_pushes > MaxValues) throw Fail($"more than {MaxValues} values (references included): over the budget for a checkpoint's object graph");
        _stack.Add(v);
    }

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Fail("stack underflow");
        object? v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Fail("stack underflow");
        return _stack[^1];
    }

    private object?[] PopToMark()
    {
        if (_marks.Count == 0) throw Fail("no MARK to pop to");
        int mark = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(mark, _stack.Count - mark).ToArray();
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private void Put(long index)
    {
        if (_memo.Count >= MaxMemo && !_memo.ContainsKey(index)) throw Fail($"memo grows past {MaxMemo} entries");
        _memo[index] = Peek();
    }

    private object? Get(long index) =>
        _memo.TryGetValue(index, out var v) ? v : throw Fail($"memo entry {index} read before it was written");

    // ---- raw reads ---------------------------------------------------------------------------------

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > _data.Length - _pos) throw Fail($"truncated at offset {_pos} (needs {n} more bytes)");
        var s = new ReadOnlySpan<byte>(_data, _pos, (int)n);
        _pos += (int)n;
        return s;
    }

    private byte ReadByte() => Take(1)[0];

    private string ReadUtf8(ulong length)
    {
        if (length > (ulong)(_data.Length - _pos)) throw Fail($"string of {length} bytes at offset {_pos} runs past the end");
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Take((long)length));
        }
        catch (DecoderFallbackException)
        {
            throw Fail($"string at offset {_pos} is not valid UTF-8");
        }
    }

    /// <summary>A newline-terminated ASCII line (GLOBAL's module and name).</summary>
    private string ReadLine()
    {
        int start = _pos;
        int nl = Array.IndexOf(_data, (byte)'\n', _pos, Math.Min(256, _data.Length - _pos));
        if (nl < 0) throw Fail($"GLOBAL name at offset {start} is unterminated or longer than 255 bytes");
        _pos = nl + 1;
        var bytes = new ReadOnlySpan<byte>(_data, start, nl - start);
        foreach (byte b in bytes)
            if (b < 0x20 || b > 0x7e) throw Fail($"GLOBAL name at offset {start} is not printable ASCII");
        return Encoding.ASCII.GetString(bytes);
    }

    private long ReadLong1()
    {
        int n = ReadByte();
        if (n > 8) throw Fail($"LONG1 integer of {n} bytes is too large");
        var bytes = Take(n);
        if (n == 0) return 0;
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | bytes[i];
        if (n < 8 && (bytes[n - 1] & 0x80) != 0) v -= 1L << (8 * n); // two's complement sign
        return v;
    }

    // ---- messages ----------------------------------------------------------------------------------

    private PisaException Fail(string what) => new($"torch checkpoint '{_source}': {what}");

    internal static string TypeName(object? v) => v switch
    {
        null => "None",
        string => "str",
        long => "int",
        double => "float",
        bool => "bool",
        PickleTuple => "tuple",
        List<object?> => "list",
        PickleDict => "dict",
        PickleGlobal g => g.FullName,
        TorchStorageRef => "storage",
        HostTensor => "tensor",
        _ => v.GetType().Name,
    };

    private static string Show(object? v) => v switch
    {
        string s => $"'{(s.Length > 40 ? s[..40] + "..." : s)}'",
        long or double or bool => v.ToString()!,
        _ => TypeName(v),
    };

    private static string DescribeArgs(PickleTuple a) => string.Join(", ", a.Select(TypeName));
}
