using System.Runtime.InteropServices;

namespace PiSa.Ptx;

/// <summary>
/// The warpgroup MMA (wgmma.*), modelled so that protocol mistakes show up as wrong results or check failures:
/// <list type="bullet">
/// <item>Every wgmma.* is a collective of the 128 threads of a warpgroup (4 consecutive warps): all must arrive at
/// the same instruction, with the same descriptors and scale-d.</item>
/// <item>wgmma.mma_async only queues the operation. Its accumulator registers are then "in flight": their values
/// move to a side copy and the registers read as a NaN (<see cref="InFlight"/>) until the wgmma.wait_group that
/// completes the operation writes the result back, so a kernel that reads them too early computes NaN, and one
/// that writes them is reported. wgmma.commit_group closes the warpgroup's open batch; wgmma.wait_group N runs
/// every committed batch but the N newest, in issue order, reading shared memory then, so a stage buffer
/// overwritten before the wait gives the new (wrong) bytes, and the race check reports it.</item>
/// <item>wgmma.fence: an mma_async needs one since the start and since any of its accumulator registers was last
/// handed back to the threads by a wait_group (the ISA requires it between a thread's access to those registers
/// and the next mma_async that uses them; chaining in-flight accumulators needs none). The interpreter cannot see
/// register accesses, so it asks for the fence whenever the threads could have touched them.</item>
/// <item>With Checks: the operand bytes must be written in this block, each by a thread that executed
/// fence.proxy.async after writing them (per byte and per writer), not by another warpgroup since the last
/// barrier; a store, atomic or cp.async to a byte a queued operation reads (per-byte count) is a race, reported at
/// the write; after completion the read is stamped like a warpgroup's read for the ordinary race check.</item>
/// </list>
/// Arithmetic as mma.sync: exact products summed in double and rounded once to f32 per operation (k = 16).
/// </summary>
internal sealed partial class BlockRunner
{
    const byte AtGroup = 4;
    /// <summary>What an in-flight accumulator register reads as: a quiet NaN with a recognisable payload.</summary>
    internal const uint InFlight = 0x7FC0_DEADu;

    struct WgOp
    {
        public int Pc, Group, N, Vec;
        public byte Mode;
        public bool Bf, ScaleD;
        public int[] AddrA, AddrB;   // shared offsets of the operand elements, [mn * 16 + k], worked out at issue
    }

    readonly bool _hasWg;
    int _nGroups;
    int[] _gArrived = [], _gFences = [], _gCommits = [];
    List<WgOp>[] _gQueue = [];
    int[] _gInflight = [], _gReleasedAt = [];   // per group x slot: in-flight operations, fence count at hand-back
    ulong[] _wgTrue = [];                       // the real values of in-flight accumulators (indexed as _regs)
    uint[] _proxyFences = [], _wfence = [];     // per thread: fence.proxy.async count; per shared byte: its writer's count then
    ushort[] _wgReading = [];                   // per shared byte (Checks): queued wgmma operations reading it
    double[]? _wgA, _wgB;                       // operands of the operation being completed, as doubles

    string T(int t) { var d = Tid(t); return $"({d.X},{d.Y},{d.Z})"; }

    void InitWgmma()
    {
        _nGroups = (_nThreads + 127) / 128;
        _gArrived = new int[_nGroups];
        _gFences = new int[_nGroups];
        _gCommits = new int[_nGroups];
        _gQueue = new List<WgOp>[_nGroups];
        for (int g = 0; g < _nGroups; g++) _gQueue[g] = new List<WgOp>();
        _gInflight = new int[_nGroups * _frame];
        _gReleasedAt = new int[_nGroups * _frame];
        _wgTrue = new ulong[_regs.Length];
        _proxyFences = new uint[_nThreads];
        if (_checks)
        {
            _wfence = new uint[_sharedSize];
            _wgReading = new ushort[_sharedSize];
        }
    }

    void ResetWgmma()
    {
        if (!_hasWg) return;
        Array.Clear(_gArrived);
        Array.Clear(_gFences);
        Array.Clear(_gCommits);
        foreach (var q in _gQueue) q.Clear();
        Array.Clear(_gInflight);
        _gReleasedAt.AsSpan().Fill(-1);
        Array.Clear(_proxyFences);
        Array.Clear(_wgReading);
    }

    /// <summary>A thread reached a wgmma.* instruction: it waits for the other 127 threads of its warpgroup.</summary>
    void ArriveGroup(int t)
    {
        int g = t >> 7;
        if (g * 128 + 128 > _nThreads)
            throw Fail(PtxCheckKind.InactiveLane, t, $"{_code[_pc[t]].Op} is a warpgroup instruction (4 full warps); this block of {_nThreads} threads has only {_nThreads - g * 128} in warpgroup {g}");
        _state[t] = AtGroup;
        _gArrived[g]++;
    }

    /// <summary>Completes warpgroup g's collective once all 128 threads have arrived; reports one that never can.</summary>
    void ResolveGroup(int g)
    {
        if (_gArrived[g] == 0) return;
        int b = g * 128;
        if (_gArrived[g] < 128)
        {
            for (int w = 4 * g; w < 4 * g + 4; w++)
                if (_exited[w] != 0)
                {
                    int u = w * 32 + System.Numerics.BitOperations.TrailingZeroCount(_exited[w]);
                    int at = b;
                    while (_state[at] != AtGroup) at++;
                    throw Fail(PtxCheckKind.BarrierDivergence, at,
                        $"warpgroup divergence: this thread waits at {_code[_pc[at]].Op} while thread {T(u)} of its warpgroup has exited");
                }
            return;
        }
        int pc = _pc[b];
        for (int u = b + 1; u < b + 128; u++)
            if (_pc[u] != pc)
                throw Fail(PtxCheckKind.BarrierDivergence, u,
                    $"warpgroup divergence: this thread waits at {_code[_pc[u]].Op} ({_k.Where(_pc[u])}) while thread {T(b)} waits at {_code[pc].Op} ({_k.Where(pc)})");
        ref var i = ref _code[pc];
        switch (i.Op)
        {
            case Op.WgFence: _gFences[g]++; break;
            case Op.WgCommit:
            {
                var q = CollectionsMarshal.AsSpan(_gQueue[g]);
                for (int k = 0; k < q.Length; k++)
                    if (q[k].Group < 0) q[k].Group = _gCommits[g];
                _gCommits[g]++;
                break;
            }
            case Op.WgWait: WgWait(g, (int)i.Imm); break;
            case Op.WgMma: WgIssue(g, ref i); break;
        }
        _gArrived[g] = 0;
        for (int u = b; u < b + 128; u++)
        {
            _state[u] = Running;
            _pc[u]++;
            _run[_runCount++] = u;
        }
        // every warp of the group passed a .sync.aligned instruction together (orders their lanes, as a full-warp collective)
        for (int w = 4 * g; w < 4 * g + 4; w++) _wsync[w]++;
        _cls[(int)InstrClass.Collective] += 128;
    }

    /// <summary>Nothing can run and a thread of warpgroup g waits at a wgmma.* instruction: say why.</summary>
    void DiagnoseGroup(int t)
    {
        int g = t >> 7;
        for (int u = g * 128; u < g * 128 + 128; u++)
            if (_state[u] == AtBarrier)
                throw Fail(PtxCheckKind.Deadlock, t,
                    $"deadlock: this thread waits at {_code[_pc[t]].Op} while thread {T(u)} of its warpgroup waits at bar.sync ({_k.Where(_pc[u])})");
        throw Fail(PtxCheckKind.Deadlock, t, $"deadlock: {_code[_pc[t]].Op} of warpgroup {g} can never complete");
    }

    /// <summary>A thread exits: its warpgroup must have no wgmma.mma_async left (queued, committed or not).</summary>
    void WgExitCheck(int t)
    {
        var q = _gQueue[t >> 7];
        if (q.Count == 0) return;
        int open = q.Count(o => o.Group < 0);
        throw Fail(PtxCheckKind.AsyncProtocol, t,
            $"thread exits with {q.Count} wgmma.mma_async not completed by a wgmma.wait_group ({open} not even committed; the first from {_k.Where(q[0].Pc)})");
    }

    void WgIssue(int g, ref Instr i)
    {
        int b = g * 128;
        ulong da = Rd(b, i.A), db = Rd(b, i.B), sd = Rd(b, i.C);
        for (int u = b + 1; u < b + 128; u++)
        {
            if (Rd(u, i.A) != da || Rd(u, i.B) != db)
                throw Fail(PtxCheckKind.AsyncProtocol, u,
                    $"wgmma.mma_async descriptors differ across the warpgroup: this thread has a-desc 0x{Rd(u, i.A):x16}, b-desc 0x{Rd(u, i.B):x16}, thread {T(b)} has 0x{da:x16}, 0x{db:x16}");
            if ((Rd(u, i.C) != 0) != (sd != 0))
                throw Fail(PtxCheckKind.AsyncProtocol, u, $"wgmma.mma_async scale-d differs across the warpgroup (thread {T(b)} has {(sd != 0 ? 1 : 0)})");
        }
        int n = (int)i.Imm;
        if (_gFences[g] == 0)
            throw Fail(PtxCheckKind.AsyncProtocol, b, "wgmma.mma_async with no wgmma.fence before it in this warpgroup");
        for (int k = 0; k < i.VecN; k++)
        {
            int s = _vecs[i.Vec + k];
            if (_gInflight[g * _frame + s] == 0 && _gReleasedAt[g * _frame + s] == _gFences[g])
                throw Fail(PtxCheckKind.AsyncProtocol, b,
                    $"wgmma.mma_async with no wgmma.fence since a wgmma.wait_group handed its accumulator registers back to the threads (d register {k})");
        }
        // operand addresses are checked now (a bad descriptor is reported where it is used)
        var addrA = WgAddresses(b, da, 64, (i.Mode & PtxDecoder.WgMode.TransA) != 0, "A");
        var addrB = WgAddresses(b, db, n, (i.Mode & PtxDecoder.WgMode.TransB) != 0, "B");
        var op = new WgOp { Pc = _pc[b], Group = -1, N = n, Vec = i.Vec, Mode = i.Mode, Bf = i.T2 == PtxType.Bf16, ScaleD = sd != 0,
            AddrA = addrA, AddrB = addrB };
        if (_checks)
        {
            WgIssueChecks(b, addrA, "A");
            WgIssueChecks(b, addrB, "B");
            WgMarkReading(addrA, 1);
            WgMarkReading(addrB, 1);
        }
        // the accumulators go in flight: real values aside (unless an earlier queued operation already holds them)
        for (int k = 0; k < i.VecN; k++)
        {
            int s = _vecs[i.Vec + k];
            if (_gInflight[g * _frame + s]++ > 0) continue;
            for (int u = b; u < b + 128; u++)
            {
                _wgTrue[u * _frame + s] = _regs[u * _frame + s];
                _regs[u * _frame + s] = InFlight;
            }
        }
        _gQueue[g].Add(op);
    }

    /// <summary>
    /// The shared offsets of the elements (mn, k), mn &lt; rows, k &lt; 16, of a 2-byte operand described by desc
    /// (PTX ISA "Matrix Descriptor Format" and "Shared Memory Matrix Layout"; CUTLASS's canonical GMMA layouts say
    /// the same). No swizzle: element (mn, k) of a K-major operand lies in the "core matrix" of rows mn / 8 and
    /// columns k / 8, 8 rows of 16 contiguous bytes, rows 16 bytes apart; core matrices are LBO apart along K and
    /// SBO apart along M/N. MN-major (transposed): the rows of a core matrix run along K and hold 8 consecutive mn;
    /// core matrices are SBO apart along M/N and LBO apart along K. Swizzled (S = 32, 64 or 128 bytes): K-major rows
    /// are S bytes long (8 rows, then SBO to the next 8), k contiguous, LBO unused; MN-major rows (one per k, S
    /// bytes apart, 8 of them then SBO) hold S / 2 consecutive mn, then LBO to the next S / 2; then the 16-byte chunk
    /// bits 4.. of the shared address are XORed with bits 7.. (log2(S / 16) bits), the pattern repeating every 8 S
    /// bytes of the address space; a non-zero matrix base offset (a pattern not aligned so) is refused.
    /// </summary>
    int[] WgAddresses(int t, ulong desc, int rows, bool mnMajor, string name)
    {
        int start = (int)(desc & 0x3FFF) << 4, lbo = (int)((desc >> 16) & 0x3FFF) << 4, sbo = (int)((desc >> 32) & 0x3FFF) << 4;
        int swizzle = (int)(desc >> 62), baseOffset = (int)((desc >> 49) & 7);
        int w = swizzle switch { 0 => 1, 1 => 8, 2 => 4, _ => 2 };   // 16-byte chunks per swizzled row
        if (swizzle != 0 && baseOffset != 0)
            throw Fail(PtxCheckKind.InvalidInstruction, t,
                $"wgmma.mma_async matrix {name}: a non-zero matrix base offset ({baseOffset}) is not supported by the interpreter (descriptor 0x{desc:x16})");
        var a = new int[rows * 16];
        for (int mn = 0; mn < rows; mn++)
            for (int k = 0; k < 16; k++)
            {
                int o;
                if (swizzle == 0)
                    o = mnMajor
                        ? start + (mn / 8) * sbo + (k / 8) * lbo + (k % 8) * 16 + (mn % 8) * 2
                        : start + (mn / 8) * sbo + (k / 8) * lbo + (mn % 8) * 16 + (k % 8) * 2;
                else
                {
                    o = mnMajor
                        ? start + (mn / (8 * w)) * lbo + (k / 8) * sbo + (k % 8) * 16 * w + (mn % (8 * w)) * 2
                        : start + (mn / 8) * sbo + (mn % 8) * 16 * w + k * 2;
                    o ^= ((o >> 7) & (w - 1)) << 4;
                }
                a[mn * 16 + k] = o;
            }
        foreach (int o in a)
            if (o + 2 > _sharedSize)
                throw Fail(PtxCheckKind.OutOfBounds, t,
                    $"wgmma.mma_async matrix {name} reads shared offset {o}, past the block's {_sharedSize} bytes (descriptor 0x{desc:x16}: start {start}, LBO {lbo}, SBO {sbo})",
                    (ulong)o, SharedLabel);
        return a;
    }

    /// <summary>
    /// At issue: the operand bytes are initialised, were not written by another warpgroup since the last barrier,
    /// and each writer fenced them into the async proxy (the issuing warpgroup's own writes need only that fence:
    /// every writer takes part in the issue after it).
    /// </summary>
    void WgIssueChecks(int t, int[] addr, string name)
    {
        int g = t >> 7;
        for (int e = 0; e < addr.Length; e++)
        {
            for (int b = addr[e]; b < addr[e] + 2; b++)
            {
                ulong ws = _wst[b];
                if ((uint)(ws >> 32) < _blockStartPhase)
                    throw Fail(PtxCheckKind.UninitialisedShared, t,
                        $"wgmma.mma_async matrix {name} reads shared memory not written in this launch (offset {b})", (ulong)b, SharedLabel);
                int writer = (int)(ws & 0xFFF) - 1;
                if ((uint)(ws >> 32) == _phase && writer >= 0 && writer >> 7 != g)
                    throw Fail(PtxCheckKind.SharedRace, t,
                        $"shared-memory race: wgmma.mma_async matrix {name} reads shared offset {b}, written by thread {T(writer)} of another warpgroup since the last barrier",
                        (ulong)b, SharedLabel);
                if (writer >= 0 && writer < _nThreads && _wfence[b] == _proxyFences[writer])
                    throw Fail(PtxCheckKind.AsyncProtocol, t,
                        $"wgmma.mma_async matrix {name} reads shared offset {b}, written by thread {T(writer)} with no fence.proxy.async by that thread since",
                        (ulong)b, SharedLabel);
            }
        }
    }

    /// <summary>Counts, per shared byte, the queued wgmma operations that read it (a write to one is a race).</summary>
    void WgMarkReading(int[] addr, int delta)
    {
        foreach (int o in addr)
        {
            _wgReading[o] = (ushort)(_wgReading[o] + delta);
            _wgReading[o + 1] = (ushort)(_wgReading[o + 1] + delta);
        }
    }

    /// <summary>A write (store, atomic, cp.async) to shared bytes an in-flight wgmma reads: the GPU may read either value.</summary>
    PtxCheckException WgWriteRace(int t, int b) =>
        Fail(PtxCheckKind.SharedRace, t,
            $"shared-memory race: write of offset {b}, which a wgmma.mma_async in flight reads (issued, not yet completed by a wgmma.wait_group)",
            (ulong)b, SharedLabel);

    /// <summary>wgmma.wait_group N: runs, in issue order, every committed operation of warpgroup g but the N newest groups.</summary>
    void WgWait(int g, int keep)
    {
        var q = _gQueue[g];
        int limit = _gCommits[g] - keep;
        int w = 0;
        var done = new List<WgOp>();
        for (int k = 0; k < q.Count; k++)
        {
            var op = q[k];
            if (op.Group >= 0 && op.Group < limit)
            {
                WgExecute(g, op);
                done.Add(op);
            }
            else q[w++] = op;
        }
        q.RemoveRange(w, q.Count - w);
        // hand back the accumulators no queued operation still holds
        int b = g * 128;
        foreach (var op in done)
            for (int k = 0; k < op.N / 2; k++)
            {
                int s = _vecs[op.Vec + k];
                if (--_gInflight[g * _frame + s] > 0) continue;
                _gReleasedAt[g * _frame + s] = _gFences[g];
                for (int u = b; u < b + 128; u++)
                {
                    if ((uint)_regs[u * _frame + s] != InFlight || _regs[u * _frame + s] >> 32 != 0)
                        throw Fail(PtxCheckKind.AsyncProtocol, u,
                            $"accumulator register {k} of the wgmma.mma_async of {_k.Where(op.Pc)} was written while the operation was in flight (before the wgmma.wait_group that completes it)");
                    _regs[u * _frame + s] = _wgTrue[u * _frame + s];
                }
            }
    }

    void WgExecute(int g, WgOp op)
    {
        int b = g * 128, n = op.N;
        int[] addrA = op.AddrA, addrB = op.AddrB;
        if (_checks)
        {
            WgMarkReading(addrA, -1);
            WgMarkReading(addrB, -1);
            WgStampRead(g, addrA);
            WgStampRead(g, addrB);
        }
        var A = _wgA ??= new double[64 * 16];
        var Bt = _wgB ??= new double[256 * 16];
        double sa = (op.Mode & PtxDecoder.WgMode.NegA) != 0 ? -1 : 1, sb = (op.Mode & PtxDecoder.WgMode.NegB) != 0 ? -1 : 1;
        for (int e = 0; e < A.Length; e++) A[e] = sa * Half16(BitConverter.ToUInt16(_shared, addrA[e]), op.Bf);
        for (int e = 0; e < n * 16; e++) Bt[e] = sb * Half16(BitConverter.ToUInt16(_shared, addrB[e]), op.Bf);
        // D fragment (PTX ISA "Matrix Fragments for wgmma .m64nNk16", accumulator D): thread lane l of warp w of the
        // warpgroup, r = l / 4, c = 2 (l % 4): d[4j] = (16w + r, 8j + c), d[4j+1] = (16w + r, 8j + c + 1),
        // d[4j+2] = (16w + r + 8, 8j + c), d[4j+3] = (16w + r + 8, 8j + c + 1)
        for (int lt = 0; lt < 128; lt++)
        {
            int u = b + lt, w = lt >> 5, l = lt & 31;
            for (int k = 0; k < n / 2; k++)
            {
                int j = k >> 2, q = k & 3;
                int m = 16 * w + (l >> 2) + (q >= 2 ? 8 : 0), col = 8 * j + 2 * (l & 3) + (q & 1);
                int slot = u * _frame + _vecs[op.Vec + k];
                double s = op.ScaleD ? PtxMath.F(_wgTrue[slot]) : 0;
                for (int kk = 0; kk < 16; kk++) s += A[m * 16 + kk] * Bt[col * 16 + kk];
                _wgTrue[slot] = PtxMath.Bits((float)s);
            }
        }
        Stats.WgmmaCount++;
        Stats.WgmmaFlops += 2L * 64 * n * 16;
        Stats.SharedBytesRead += (64 + n) * 16 * 2;
    }

    /// <summary>At completion the read is stamped as warpgroup g's, for the race check of later writers.</summary>
    void WgStampRead(int g, int[] addr)
    {
        ulong stamp = ((ulong)_phase << 32) | ((ulong)(_wsync[4 * g] & 0xFFFFF) << 12) | (0xC00u | (uint)g);
        for (int e = 0; e < addr.Length; e++)
            for (int x = 0; x < 2; x++)
            {
                int by = addr[e] + x;
                ulong rs = _rst[by];
                _rst[by] = (uint)(rs >> 32) == _phase && (rs & 0xFFF) != (0xC00u | (uint)g) && (rs & 0xFFF) != 0 ? ((ulong)_phase << 32) | 0xFFFu : stamp;
            }
    }
}
