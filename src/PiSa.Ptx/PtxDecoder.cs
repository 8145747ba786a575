using System.Globalization;

namespace PiSa.Ptx;

/// <summary>
/// Decodes one kernel body into <see cref="Instr"/>s: registers become frame slots, immediates and symbol
/// addresses become constants, labels become instruction indices, each opcode string becomes one specialised
/// <see cref="Op"/>. No string is looked at again when the kernel runs.
/// </summary>
internal sealed partial class PtxDecoder
{
    sealed class Scope
    {
        public readonly Dictionary<string, int> Exact = new(StringComparer.Ordinal);
        public readonly Dictionary<string, (int Base, int Count)> Ranges = new(StringComparer.Ordinal);
    }

    readonly PtxParser _p;
    readonly string _kernel;
    readonly List<PtxParam> _params;
    readonly int? _maxThreads;
    readonly List<Scope> _scopes = new();
    readonly List<byte> _slotBits = new();
    readonly List<ulong> _consts = new();
    readonly Dictionary<ulong, int> _constIndex = new();
    readonly List<Instr> _code = new();
    readonly List<int> _vecs = new();
    readonly Dictionary<string, int> _labels = new(StringComparer.Ordinal);
    readonly List<(int Pc, string Label, int Line)> _fixups = new();
    readonly Dictionary<string, int> _sharedOffset = new(StringComparer.Ordinal);
    readonly Dictionary<string, int> _localOffset = new(StringComparer.Ordinal);
    readonly List<string> _locs = new();
    readonly Dictionary<string, int> _locIndex = new(StringComparer.Ordinal);
    int _staticShared, _sharedAlign = 16, _localBytes, _memSlots, _loc = -1, _line, _sink = -1;

    internal PtxDecoder(PtxParser p, string kernel, List<PtxParam> ps, int? maxThreads)
    {
        _p = p;
        _kernel = kernel;
        _params = ps;
        _maxThreads = maxThreads;
        for (int i = 0; i < Special.Count; i++) _slotBits.Add(32);
        _scopes.Add(new Scope());
    }

    PtxParseException Error(string reason) => _p.Error(reason, _line);

    /// <summary>Decodes statements from line <paramref name="ln"/> until the body's closing brace; returns the next line.</summary>
    internal int DecodeBody(string[] lines, int ln)
    {
        string pending = "";
        for (; ln < lines.Length; ln++)
        {
            _line = ln;
            string s = PtxParser.StripComment(lines[ln]).Trim();
            if (pending.Length > 0) { s = pending + " " + s; pending = ""; }
            while (s.Length > 0)
            {
                if (s[0] == '{')
                {
                    _scopes.Add(new Scope());
                    s = s[1..].TrimStart();
                    continue;
                }
                if (s[0] == '}')
                {
                    _scopes.RemoveAt(_scopes.Count - 1);
                    if (_scopes.Count == 0)
                    {
                        if (s[1..].Trim().Length > 0) throw Error("text after the kernel's closing brace");
                        return ln + 1;
                    }
                    s = s[1..].TrimStart();
                    continue;
                }
                if (s.StartsWith(".loc", StringComparison.Ordinal) && s.Length > 4 && s[4] is ' ' or '\t') { Loc(s); break; }
                if (s.StartsWith(".pragma", StringComparison.Ordinal) || s.StartsWith(".maxnreg", StringComparison.Ordinal))
                {
                    int sc = s.IndexOf(';');
                    s = sc < 0 ? "" : s[(sc + 1)..].TrimStart();
                    continue;
                }
                int colon = LabelEnd(s);
                if (colon > 0)
                {
                    string label = s[..colon];
                    if (!_labels.TryAdd(label, _code.Count)) throw Error($"label {label} defined twice");
                    s = s[(colon + 1)..].TrimStart();
                    continue;
                }
                int semi = s.IndexOf(';');
                if (semi < 0) { pending = s; break; }
                Statement(s[..semi].Trim());
                s = s[(semi + 1)..].TrimStart();
            }
        }
        throw _p.Error($"kernel {_kernel} has no closing brace", lines.Length - 1);
    }

    static int LabelEnd(string s)
    {
        int i = 0;
        if (s.Length == 0 || !(char.IsLetter(s[0]) || s[0] is '$' or '_')) return -1;
        while (i < s.Length && (char.IsLetterOrDigit(s[i]) || s[i] is '$' or '_' or '.')) i++;
        // "fence.proxy.async.shared::cta;" is an instruction: a state-space qualifier's "::" ends no label
        return i < s.Length && s[i] == ':' && (i + 1 == s.Length || s[i + 1] != ':') ? i : -1;
    }

    void Loc(string s)
    {
        // .loc FILE LINE COL[, function_name X, inlined_at FILE LINE COL]
        var parts = s.Split((char[])[' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3 || !int.TryParse(parts[1], out int file) || !int.TryParse(parts[2], out int line))
            throw Error("bad .loc directive");
        string f = _p.Files.TryGetValue(file, out var fn) ? fn : $"file{file}";
        string text = $"{f}:{line}";
        int ia = Array.IndexOf(parts, "inlined_at");
        if (ia > 0 && ia + 2 < parts.Length) text += $" (inlined at line {parts[ia + 2]})";
        if (!_locIndex.TryGetValue(text, out int idx))
        {
            idx = _locs.Count;
            _locs.Add(text);
            _locIndex[text] = idx;
        }
        _loc = idx;
    }

    void Statement(string st)
    {
        if (st.Length == 0) return;
        if (st[0] == '.')
        {
            Directive(st);
            return;
        }
        int guard = -1;
        bool neg = false;
        if (st[0] == '@')
        {
            int sp = st.IndexOfAny([' ', '\t']);
            if (sp < 0) throw Error("guard without instruction");
            string g = st[1..sp];
            if (g.StartsWith('!')) { neg = true; g = g[1..]; }
            guard = Reg(g);
            st = st[sp..].TrimStart();
        }
        int ws = st.IndexOfAny([' ', '\t']);
        string opcode = ws < 0 ? st : st[..ws];
        string rest = ws < 0 ? "" : st[ws..].Trim();
        var ops = SplitOperands(rest);
        _p.Forms.Add(opcode);
        int before = _code.Count;
        Instruction(opcode, opcode.Split('.'), ops);
        // the guard applies to the instruction proper (the last one emitted; helpers before it are unguarded
        // and only compute temporaries)
        if (guard >= 0)
        {
            if (_code.Count == before) throw Error("guarded directive");
            var ins = _code[^1];
            ins.Guard = guard;
            ins.GuardNeg = neg;
            _code[^1] = ins;
        }
    }

    void Directive(string st)
    {
        if (st.StartsWith(".reg", StringComparison.Ordinal))
        {
            // .reg .b32 %r<205>;  .reg .pred p, q;  .reg .f32 %a;
            var toks = st.Split((char[])[' ', '\t'], 3, StringSplitOptions.RemoveEmptyEntries);
            if (toks.Length < 3) throw Error("bad .reg declaration");
            int first = 1;
            if (toks[1] == ".v2" || toks[1] == ".v4") throw Error("vector registers are not supported");
            string type = toks[first][1..];
            int bits = type == "pred" ? 1 : (PtxParser.TypeSize(type) ?? throw Error($"unknown register type .{type}")) * 8;
            var scope = _scopes[^1];
            foreach (var raw in toks[2].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                int lt = raw.IndexOf('<');
                if (lt >= 0)
                {
                    int n = int.Parse(raw[(lt + 1)..raw.IndexOf('>')], CultureInfo.InvariantCulture);
                    int b = _slotBits.Count;
                    for (int i = 0; i < n; i++) _slotBits.Add((byte)bits);
                    scope.Ranges[raw[..lt]] = (b, n);
                }
                else
                {
                    scope.Exact[raw] = _slotBits.Count;
                    _slotBits.Add((byte)bits);
                }
            }
            return;
        }
        if (st.StartsWith(".shared", StringComparison.Ordinal))
        {
            var (name, align, size) = _p.ParseSharedDecl(st);
            if (size < 0) throw Error("function-scope .extern .shared");
            _sharedOffset[name] = AllocShared(align, size);
            return;
        }
        if (st.StartsWith(".local", StringComparison.Ordinal))
        {
            var (name, align, size) = _p.ParseSharedDecl(st.Replace(".local", ".shared"));
            if (size < 0) throw Error("bad .local declaration");
            _localBytes = (_localBytes + align - 1) / align * align;
            _localOffset[name] = _localBytes;
            _localBytes += size;
            return;
        }
        throw Error("unsupported directive in a kernel body");
    }

    int AllocShared(int align, int size)
    {
        _sharedAlign = Math.Max(_sharedAlign, align);
        _staticShared = (_staticShared + align - 1) / align * align;
        int off = _staticShared;
        _staticShared += size;
        return off;
    }

    static List<string> SplitOperands(string s)
    {
        var list = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is '{' or '[') depth++;
            else if (c is '}' or ']') depth--;
            else if (c == ',' && depth == 0)
            {
                list.Add(s[start..i].Trim());
                start = i + 1;
            }
        }
        if (s.Trim().Length > 0) list.Add(s[start..].Trim());
        return list;
    }

    // ---------------------------------------------------------------- operands

    int NewSlot(int bits)
    {
        _slotBits.Add((byte)bits);
        return _slotBits.Count - 1;
    }

    int Sink => _sink >= 0 ? _sink : (_sink = NewSlot(64));

    int? FindReg(string name)
    {
        if (Special.Slot(name) is int sp) return sp;
        for (int i = _scopes.Count - 1; i >= 0; i--)
        {
            var sc = _scopes[i];
            if (sc.Exact.TryGetValue(name, out int s)) return s;
            int d = name.Length;
            while (d > 0 && char.IsDigit(name[d - 1])) d--;
            if (d < name.Length && sc.Ranges.TryGetValue(name[..d], out var r) &&
                int.TryParse(name.AsSpan(d), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n < r.Count)
                return r.Base + n;
        }
        return null;
    }

    int Reg(string name) => FindReg(name) ?? throw Error($"unknown register '{name}'");

    int Dst(string tok) => tok == "_" ? Sink : Reg(tok);

    int Const(ulong v)
    {
        if (!_constIndex.TryGetValue(v, out int i))
        {
            i = _consts.Count;
            _consts.Add(v);
            _constIndex[v] = i;
        }
        return ~i;
    }

    /// <summary>A source operand: register slot, or ~constant for an immediate or a symbol's address.</summary>
    int Src(string tok, PtxType ctx)
    {
        if (tok.Length == 0) throw Error("empty operand");
        if (tok[0] == '!')
        {
            // negated predicate source: computed into a temporary just before the instruction
            int t = NewSlot(1);
            Emit(new Instr { Op = Op.CNot, Class = InstrClass.Integer, W = 1, Mask = 1, D = t, A = Reg(tok[1..]) });
            return t;
        }
        if (tok[0] == '%' || (char.IsLetter(tok[0]) && FindReg(tok) is not null))
            return Reg(tok);
        if (TryImmediate(tok, ctx, out ulong v)) return Const(v);
        if (SymbolOperand(tok) is int c) return c;
        throw Error($"unknown operand '{tok}'");
    }

    int _externConst;   // ~index of the constant holding the dynamic shared base, 0 until used

    /// <summary>The address of a shared/local/param symbol as a constant operand, or null when it is none of those.</summary>
    int? SymbolOperand(string name)
    {
        if (_sharedOffset.TryGetValue(name, out int off)) return Const((ulong)off);
        if (_p.ModuleShared.TryGetValue(name, out var decl))
        {
            if (decl.Size < 0)
            {
                // the dynamic array sits after every static one: its address is patched in Finish
                if (_externConst == 0)
                {
                    _consts.Add(0);
                    _externConst = ~(_consts.Count - 1);
                }
                return _externConst;
            }
            int o = AllocShared(decl.Align, decl.Size);
            _sharedOffset[name] = o;
            return Const((ulong)o);
        }
        if (_localOffset.TryGetValue(name, out int lo)) return Const((ulong)lo);
        for (int i = 0; i < _params.Count; i++)
            if (_params[i].Name == name) return Const((ulong)_params[i].Offset);
        return null;
    }

    internal static bool TryImmediate(string tok, PtxType ctx, out ulong v)
    {
        v = 0;
        string t = tok;
        bool neg = false;
        if (t.StartsWith('-')) { neg = true; t = t[1..]; }
        if (t.Length >= 3 && t[0] == '0' && (t[1] is 'f' or 'F') && t.Length == 10)
        {
            uint bits = uint.Parse(t[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            float f = BitConverter.UInt32BitsToSingle(bits);
            if (neg) f = -f;
            v = ctx == PtxType.F64 ? BitConverter.DoubleToUInt64Bits(f) : BitConverter.SingleToUInt32Bits(f);
            return true;
        }
        if (t.Length >= 3 && t[0] == '0' && (t[1] is 'd' or 'D') && t.Length == 18)
        {
            ulong bits = ulong.Parse(t[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            double d = BitConverter.UInt64BitsToDouble(bits);
            if (neg) d = -d;
            v = ctx == PtxType.F64 ? BitConverter.DoubleToUInt64Bits(d) : BitConverter.SingleToUInt32Bits((float)d);
            return true;
        }
        if (t.EndsWith('U')) t = t[..^1];
        ulong u;
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (!ulong.TryParse(t[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out u)) return false;
        }
        else if (t.StartsWith("0b", StringComparison.OrdinalIgnoreCase))
        {
            try { u = Convert.ToUInt64(t[2..], 2); } catch (FormatException) { return false; }
        }
        else if (t.Length > 0 && char.IsDigit(t[0]) && (t.Contains('.') || t.Contains('e') || t.Contains('E')))
        {
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return false;
            if (neg) d = -d;
            v = ctx == PtxType.F64 ? BitConverter.DoubleToUInt64Bits(d) : BitConverter.SingleToUInt32Bits((float)d);
            return true;
        }
        else if (!ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out u)) return false;
        if (ctx is PtxType.F32)
        {
            v = BitConverter.SingleToUInt32Bits(neg ? -(float)u : u);
            return true;
        }
        if (ctx is PtxType.F64)
        {
            v = BitConverter.DoubleToUInt64Bits(neg ? -(double)u : u);
            return true;
        }
        v = neg ? (ulong)(-(long)u) : u;
        return true;
    }

    /// <summary>"[%rd1+16]", "[smem]", "[param_0]", "[%r2+-8]": base operand and byte offset.</summary>
    (int Base, long Off) Address(string tok)
    {
        if (tok.Length < 2 || tok[0] != '[' || tok[^1] != ']') throw Error($"expected an address, got '{tok}'");
        string inner = tok[1..^1].Trim();
        long off = 0;
        int plus = inner.IndexOf('+', 1);
        if (plus < 0) plus = inner.IndexOf('-', 1) is int m && m > 0 && inner[m - 1] != 'e' ? m : -1;
        string b = inner;
        if (plus > 0)
        {
            b = inner[..plus].Trim();
            string o = inner[(plus + (inner[plus] == '+' ? 1 : 0))..].Trim();
            if (!TryImmediate(o, PtxType.S64, out ulong ov)) throw Error($"bad address offset '{o}'");
            off = (long)ov;
        }
        if (TryImmediate(b, PtxType.S64, out ulong abs)) return (Const(0), off + (long)abs);
        if (b.StartsWith('%') || FindReg(b) is not null) return (Reg(b), off);
        if (SymbolOperand(b) is int c)
        {
            if (c == _externConst) return (c, off);
            return (Const(0), off + (long)_consts[~c]);
        }
        throw Error($"unknown symbol '{b}' in address");
    }

    List<int> Vector(string tok, bool dest)
    {
        if (tok.Length < 2 || tok[0] != '{' || tok[^1] != '}') throw Error($"expected a vector operand, got '{tok}'");
        var r = new List<int>();
        foreach (var e in tok[1..^1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            r.Add(dest ? Dst(e) : Src(e, PtxType.B32));
        return r;
    }

    int AddVec(List<int> v)
    {
        int off = _vecs.Count;
        _vecs.AddRange(v);
        return off;
    }

    void Emit(Instr i)
    {
        i.Line = _line + 1;
        i.Loc = _loc;
        i.Guard = -1;
        _code.Add(i);
    }

    internal PtxKernel Finish()
    {
        foreach (var (pc, label, line) in _fixups)
        {
            if (!_labels.TryGetValue(label, out int target))
                throw _p.Error($"branch to undefined label {label}", line);
            var i = _code[pc];
            i.Imm = target;
            _code[pc] = i;
        }
        int dynBase = (_staticShared + 15) / 16 * 16;
        if (_externConst != 0) _consts[~_externConst] = (ulong)dynBase;
        var code = _code.ToArray();
        var k = new PtxKernel(_kernel, _params, _staticShared, _maxThreads)
        {
            Code = code,
            Consts = _consts.ToArray(),
            Vecs = _vecs.ToArray(),
            FrameSize = _slotBits.Count,
            SlotBits = _slotBits.ToArray(),
            Locs = _locs.ToArray(),
            MemSlots = _memSlots,
            DynamicSharedBase = dynBase,
            LocalBytes = (_localBytes + 15) / 16 * 16,
            ParamBytes = _params.Count == 0 ? 0 : _params[^1].Offset + _params[^1].Size,
            SourceName = _p.SourceName,
        };
        return k;
    }
}
