using System.Globalization;

namespace PiSa.Ptx;

/// <summary>
/// Reads the PTX that NVRTC emits (one statement per line, as NVVM writes it; inline-asm blocks may put several
/// statements on a line) and hands each kernel body to <see cref="PtxDecoder"/>. Anything not understood is a
/// <see cref="PtxParseException"/> with the line: a silent skip would run a different program.
/// </summary>
internal sealed class PtxParser
{
    readonly string _name;
    readonly string[] _lines;
    int _ln; // current line index (0-based)

    // module-scope .shared variables: name -> (align, size); size -1 for the .extern dynamic array
    internal readonly Dictionary<string, (int Align, int Size)> ModuleShared = new();
    internal readonly Dictionary<int, string> Files = new();
    internal readonly List<PtxKernel> Kernels = new();
    internal readonly HashSet<string> Forms = new(StringComparer.Ordinal);

    PtxParser(string name, string text)
    {
        _name = name;
        _lines = text.Split('\n');
    }

    internal static PtxModule Parse(string text, string name)
    {
        ArgumentNullException.ThrowIfNull(text);
        var p = new PtxParser(name, text.Replace("\0", ""));
        p.ParseModule();
        return new PtxModule(name, p.Kernels, p.Forms);
    }

    internal PtxParseException Error(string reason, int? line = null)
    {
        int l = line ?? _ln;
        return new PtxParseException(_name, l + 1, l < _lines.Length ? _lines[l] : "", reason);
    }

    internal static string StripComment(string s)
    {
        int i = s.IndexOf("//", StringComparison.Ordinal);
        return i >= 0 ? s[..i] : s;
    }

    void ParseModule()
    {
        // .file lines come after the kernels that refer to them: collect them first.
        for (int i = 0; i < _lines.Length; i++)
        {
            var t = _lines[i].Trim();
            if (t.StartsWith(".file", StringComparison.Ordinal))
            {
                var parts = t.Split((char[])[' ', '\t'], 3, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 3 && int.TryParse(parts[1], out int id))
                {
                    var f = parts[2];
                    int q1 = f.IndexOf('"'), q2 = f.IndexOf('"', q1 + 1);
                    Files[id] = q1 >= 0 && q2 > q1 ? Path.GetFileName(f[(q1 + 1)..q2]) : f;
                }
            }
        }
        bool inBlockComment = false;
        for (_ln = 0; _ln < _lines.Length; _ln++)
        {
            string raw = _lines[_ln];
            if (inBlockComment)
            {
                int e = raw.IndexOf("*/", StringComparison.Ordinal);
                if (e < 0) continue;
                inBlockComment = false;
                raw = raw[(e + 2)..];
            }
            int b = raw.IndexOf("/*", StringComparison.Ordinal);
            if (b >= 0 && raw.IndexOf("*/", b, StringComparison.Ordinal) < 0) { inBlockComment = true; raw = raw[..b]; }
            var t = StripComment(raw).Trim();
            if (t.Length == 0) continue;
            if (t.StartsWith(".version") || t.StartsWith(".target") || t.StartsWith(".address_size") || t.StartsWith(".file"))
                continue;
            if (t.StartsWith(".section"))
            {
                SkipSection();
                continue;
            }
            if (t.StartsWith(".extern .shared") || t.StartsWith(".shared"))
            {
                var (name, align, size) = ParseSharedDecl(t);
                ModuleShared[name] = (align, size);
                continue;
            }
            if (t.Contains(".entry"))
            {
                ParseEntry(t);
                continue;
            }
            if (t.Contains(".func"))
                throw Error("device functions (.func) and calls are not supported by the interpreter");
            if (t.StartsWith(".global") || t.StartsWith(".const") || t.StartsWith(".visible .global") || t.StartsWith(".visible .const"))
                throw Error("module-scope .global/.const variables are not supported by the interpreter");
            throw Error("unknown module-level statement");
        }
    }

    void SkipSection()
    {
        // .section .debug_str { ... }: debug data, not code
        int depth = 0;
        bool opened = false;
        for (; _ln < _lines.Length; _ln++)
        {
            foreach (char c in StripComment(_lines[_ln]))
            {
                if (c == '{') { depth++; opened = true; }
                else if (c == '}') depth--;
            }
            if (opened && depth == 0) return;
        }
        throw Error("unterminated .section");
    }

    /// <summary>".shared .align 4 .b8 name[32];" or ".extern .shared .align 16 .b8 smem[];" -> (name, align, bytes or -1).</summary>
    internal (string Name, int Align, int Size) ParseSharedDecl(string t)
    {
        t = t.TrimEnd(';').Trim();
        var toks = t.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        int align = 0, elem = 0;
        string? decl = null;
        for (int i = 0; i < toks.Length; i++)
        {
            var k = toks[i];
            if (k is ".extern" or ".shared" or ".visible" or ".weak") continue;
            if (k == ".align") { align = int.Parse(toks[++i], CultureInfo.InvariantCulture); continue; }
            if (k.StartsWith('.') && TypeSize(k[1..]) is int s and > 0) { elem = s; continue; }
            decl = string.Concat(toks[i..]);
            break;
        }
        if (decl == null || elem == 0) throw Error("unsupported .shared declaration");
        if (decl.Contains('=')) throw Error("initialised .shared variables are not supported");
        int lb = decl.IndexOf('[');
        if (lb < 0) return (decl, Math.Max(align, elem), elem);
        string name = decl[..lb];
        var dims = decl[lb..];
        if (dims == "[]") return (name, Math.Max(align, elem), -1);
        long size = elem;
        foreach (var d in dims.Split('[', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!long.TryParse(d.TrimEnd(']'), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) || n < 0)
                throw Error("bad array size in .shared declaration");
            size *= n;
        }
        if (size > int.MaxValue) throw Error(".shared array too large");
        return (name, Math.Max(align, elem), (int)size);
    }

    internal static int? TypeSize(string t) => t switch
    {
        "b8" or "u8" or "s8" => 1,
        "b16" or "u16" or "s16" or "f16" or "bf16" => 2,
        "b32" or "u32" or "s32" or "f32" or "f16x2" or "bf16x2" => 4,
        "b64" or "u64" or "s64" or "f64" => 8,
        "pred" => 1,
        _ => null,
    };

    void ParseEntry(string first)
    {
        int startLine = _ln;
        // header: ".visible .entry NAME(" then ".param ..." lines, then ")" then performance directives, then "{"
        var sb = new System.Text.StringBuilder();
        int ln = _ln;
        for (; ln < _lines.Length; ln++)
        {
            var t = StripComment(_lines[ln]).Trim();
            if (t == "{") break;
            if (t.EndsWith('{')) { sb.Append(' ').Append(t[..^1]); break; }
            sb.Append(' ').Append(t);
        }
        if (ln >= _lines.Length) throw Error("kernel without a body", startLine);
        string header = sb.ToString().Trim();
        int e = header.IndexOf(".entry", StringComparison.Ordinal);
        int lp = header.IndexOf('(');
        int rp = header.LastIndexOf(')');
        string name = (lp > 0 ? header[(e + 6)..lp] : header[(e + 6)..]).Trim();
        var ps = new List<PtxParam>();
        int offset = 0;
        if (lp > 0)
        {
            if (rp < lp) throw Error("unterminated parameter list", startLine);
            foreach (var raw in header[(lp + 1)..rp].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var toks = raw.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                if (toks.Length < 2 || toks[0] != ".param") throw Error($"bad kernel parameter '{raw}'", startLine);
                int align = 0, elem = 0;
                string? pname = null;
                for (int i = 1; i < toks.Length; i++)
                {
                    if (toks[i] == ".align") { align = int.Parse(toks[++i], CultureInfo.InvariantCulture); continue; }
                    if (toks[i] == ".ptr" || toks[i].StartsWith(".global") || toks[i].StartsWith(".shared") || toks[i].StartsWith(".const")) continue;
                    if (toks[i].StartsWith('.') && TypeSize(toks[i][1..]) is int s) { elem = s; continue; }
                    pname = toks[i];
                }
                if (pname == null || elem == 0) throw Error($"bad kernel parameter '{raw}'", startLine);
                int count = 1;
                int lb = pname.IndexOf('[');
                if (lb >= 0)
                {
                    count = int.Parse(pname[(lb + 1)..pname.IndexOf(']')], CultureInfo.InvariantCulture);
                    pname = pname[..lb];
                }
                int al = Math.Max(align, elem);
                offset = (offset + al - 1) / al * al;
                ps.Add(new PtxParam(pname, elem * count, al, offset));
                offset += elem * count;
            }
        }
        int? maxThreads = null, reqThreads = null;
        string tail = rp >= 0 ? header[(rp + 1)..] : "";
        foreach (var dir in new[] { ".maxntid", ".reqntid" })
        {
            int di = tail.IndexOf(dir, StringComparison.Ordinal);
            if (di < 0) continue;
            var rest = tail[(di + dir.Length)..];
            int stop = rest.IndexOf('.');
            var nums = (stop >= 0 ? rest[..stop] : rest).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            long prod = 1;
            foreach (var n in nums) prod *= long.Parse(n, CultureInfo.InvariantCulture);
            if (dir == ".maxntid") maxThreads = (int)prod; else reqThreads = (int)prod;
        }
        _ln = ln + 1;
        var dec = new PtxDecoder(this, name, ps, maxThreads ?? reqThreads);
        _ln = dec.DecodeBody(_lines, _ln);
        Kernels.Add(dec.Finish());
    }

    internal string SourceName => _name;
    internal int CurrentLine { get => _ln; set => _ln = value; }
}
