namespace PiSa.Ptx;

/// <summary>
/// One launch: blocks run one after another in an order shuffled from the seed; inside a block every thread has
/// its own PC and runs until it reaches a collective (barrier, warp shuffle, mma, ...) or exits; a collective
/// executes once all of its participants have arrived. Threads run in a seed-shuffled order each round.
/// </summary>
internal sealed partial class BlockRunner
{
    const byte Running = 0, AtBarrier = 1, AtWarp = 2, Exited = 3;

    /// <summary>Generic-address windows of the shared and local spaces (global addresses are PtxMemory's).</summary>
    internal const ulong SharedWindow = 0x0000_1000_0000_0000UL, LocalWindow = 0x0000_2000_0000_0000UL, WindowSize = 1UL << 32;

    readonly PtxExecutor _ex;
    readonly PtxMemory _mem;
    readonly PtxKernel _k;
    readonly Instr[] _code;
    readonly ulong[] _consts;
    readonly int[] _vecs;
    readonly int _frame, _nThreads, _nWarps, _dyn;
    readonly PtxDim3 _grid, _block;
    readonly byte[] _param;
    readonly PtxLaunchOptions _o;
    readonly bool _checks;
    internal readonly PtxLaunchStats Stats = new();
    readonly long[] _cls = new long[6];

    readonly ulong[] _regs;
    readonly int[] _pc;
    readonly byte[] _state;
    readonly byte[] _shared;
    readonly int _sharedSize;
    // race/initialisation stamps per shared byte: barrier phase << 32 | warp-collective count << 12 | who, where who
    // is thread + 1, 0x800 | w (several threads of warp w), 0xC00 | g (a wgmma of warpgroup g) or 0xFFF (several warps)
    readonly ulong[] _wst, _rst;
    uint _phase, _blockStartPhase;
    readonly uint[] _wsync;          // full-warp collectives completed, per warp
    readonly uint[] _atWarp, _exited; // per warp: lanes waiting at a warp collective / lanes that exited
    readonly byte[] _local, _localW;
    readonly int _localBytes;
    readonly int[] _run;
    int _runCount;
    readonly Random _rng;
    PtxDim3 _ctaid;
    long _budget;

    public BlockRunner(PtxExecutor ex, PtxKernel k, PtxDim3 grid, PtxDim3 block, int dyn, byte[] param, PtxLaunchOptions o)
    {
        _ex = ex;
        _mem = ex.Memory;
        _k = k;
        _code = k.Code;
        _consts = k.Consts;
        _vecs = k.Vecs;
        _frame = k.FrameSize;
        _grid = grid;
        _block = block;
        _dyn = dyn;
        _param = param;
        _o = o;
        _checks = o.Checks;
        _nThreads = (int)block.Count;
        _nWarps = (_nThreads + 31) / 32;
        _regs = new ulong[(long)_nThreads * _frame];
        _pc = new int[_nThreads];
        _state = new byte[_nThreads];
        _sharedSize = k.DynamicSharedBase + dyn;
        if (dyn == 0) _sharedSize = k.StaticSharedBytes;
        _shared = new byte[_sharedSize];
        if (_checks)
        {
            _wst = new ulong[_sharedSize];
            _rst = new ulong[_sharedSize];
        }
        else _wst = _rst = [];
        _wsync = new uint[_nWarps];
        _atWarp = new uint[_nWarps];
        _exited = new uint[_nWarps];
        _localBytes = k.LocalBytes;
        _local = new byte[(long)_localBytes * _nThreads];
        _localW = new byte[_local.Length];
        _run = new int[_nThreads];
        _rng = new Random(o.Seed);
        _budget = o.MaxThreadInstructions;
        InitCounters();
        _hasWg = Array.Exists(_code, x => x.Op is Op.WgFence or Op.WgCommit or Op.WgWait or Op.WgMma);
        if (_hasWg) InitWgmma();
    }

    internal void RunGrid()
    {
        long nBlocks = _grid.Count;
        if (nBlocks > int.MaxValue) throw new PtxLaunchException($"launch of {_k.Name}: grid too large for the interpreter");
        var order = new int[nBlocks];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        _rng.Shuffle(order);
        foreach (int b in order)
        {
            _ctaid = new PtxDim3(b % _grid.X, b / _grid.X % _grid.Y, b / (_grid.X * _grid.Y));
            RunBlock();
        }
        Stats.IntegerInstructions = _cls[(int)InstrClass.Integer];
        Stats.Fp32Instructions = _cls[(int)InstrClass.Fp32];
        Stats.ConversionInstructions = _cls[(int)InstrClass.Conversion];
        Stats.MemoryInstructions = _cls[(int)InstrClass.Memory];
        Stats.ControlInstructions = _cls[(int)InstrClass.Control];
        Stats.CollectiveInstructions = _cls[(int)InstrClass.Collective];
    }

    // the interpreter's hot paths: compiled fully optimised at once (short test processes never reach tier 1)
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void RunBlock()
    {
        // every block starts from the launch's template frames (special registers set, the rest zero)
        _template ??= MakeTemplate();
        Array.Copy(_template, _regs, _regs.Length);
        Array.Clear(_pc);
        Array.Clear(_state);
        _shared.AsSpan().Fill(0xFF);
        Array.Clear(_localW);
        Array.Clear(_wsync);
        Array.Clear(_atWarp);
        Array.Clear(_exited);
        _phase = ++_ex.Phase;
        _blockStartPhase = _phase;
        ResetCpAsync();
        ResetWgmma();
        for (int t = 0; t < _nThreads; t++)
        {
            int f = t * _frame;
            _regs[f + Special.CtaidX] = (ulong)_ctaid.X;
            _regs[f + Special.CtaidY] = (ulong)_ctaid.Y;
            _regs[f + Special.CtaidZ] = (ulong)_ctaid.Z;
            _run[t] = t;
        }
        _runCount = _nThreads;
        while (true)
        {
            // run every runnable thread (in a fresh shuffled order) until it blocks or exits
            var run = _run.AsSpan(0, _runCount);
            _rng.Shuffle(run);
            for (int i = 0; i < run.Length; i++) Exec(run[i]);
            _runCount = 0;
            for (int w = 0; w < _nWarps; w++) ResolveWarp(w);
            if (_hasWg)
                for (int g = 0; g < _nGroups; g++) ResolveGroup(g);
            if (_runCount > 0) continue;
            if (!ResolveBarrier()) break;
        }
        FlushCounters();
    }

    ulong[]? _template;

    /// <summary>Per-thread frames with the special registers that do not depend on the block.</summary>
    ulong[] MakeTemplate()
    {
        var tpl = new ulong[_regs.Length];
        for (int t = 0; t < _nThreads; t++)
        {
            var r = tpl.AsSpan(t * _frame, _frame);
            int lane = t & 31;
            r[Special.TidX] = (ulong)(t % _block.X);
            r[Special.TidY] = (ulong)(t / _block.X % _block.Y);
            r[Special.TidZ] = (ulong)(t / (_block.X * _block.Y));
            r[Special.NtidX] = (ulong)_block.X;
            r[Special.NtidY] = (ulong)_block.Y;
            r[Special.NtidZ] = (ulong)_block.Z;
            r[Special.NctaidX] = (ulong)_grid.X;
            r[Special.NctaidY] = (ulong)_grid.Y;
            r[Special.NctaidZ] = (ulong)_grid.Z;
            r[Special.LaneId] = (ulong)lane;
            r[Special.WarpId] = (ulong)(t >> 5);
            r[Special.NWarpId] = (ulong)_nWarps;
            r[Special.LanemaskEq] = 1UL << lane;
            r[Special.LanemaskLt] = (1UL << lane) - 1;
            r[Special.LanemaskLe] = (2UL << lane) - 1;
            r[Special.LanemaskGt] = 0xFFFF_FFFFUL & ~((2UL << lane) - 1);
            r[Special.LanemaskGe] = 0xFFFF_FFFFUL & ~((1UL << lane) - 1);
            r[Special.DynSmem] = (ulong)_dyn;
            r[Special.TotalSmem] = (ulong)_sharedSize;
        }
        return tpl;
    }

    /// <summary>All threads blocked and no warp collective can complete: release a barrier, finish, or report.</summary>
    bool ResolveBarrier()
    {
        int atBar = 0, exited = 0, atWarp = 0, atGroup = 0, firstBar = -1, firstExit = -1, firstWarp = -1, firstGroup = -1;
        for (int t = 0; t < _nThreads; t++)
        {
            switch (_state[t])
            {
                case AtBarrier: atBar++; if (firstBar < 0) firstBar = t; break;
                case Exited: exited++; if (firstExit < 0) firstExit = t; break;
                case AtWarp: atWarp++; if (firstWarp < 0) firstWarp = t; break;
                case AtGroup: atGroup++; if (firstGroup < 0) firstGroup = t; break;
            }
        }
        if (exited == _nThreads) return false;
        if (atWarp > 0) DiagnoseWarp(firstWarp);
        if (atGroup > 0) DiagnoseGroup(firstGroup);
        if (exited > 0)
            throw Fail(PtxCheckKind.BarrierDivergence, firstBar,
                $"barrier divergence: {atBar} thread(s) wait at bar.sync while {exited} exited (first: thread {Tid(firstExit)})");
        int pc0 = _pc[firstBar];
        for (int t = 0; t < _nThreads; t++)
            if (_pc[t] != pc0)
                throw Fail(PtxCheckKind.BarrierDivergence, t,
                    $"barrier divergence: this thread waits at a different bar.sync ({_k.Where(_pc[t])}) than thread {Tid(firstBar)} ({_k.Where(pc0)})");
        ref var ins = ref _code[pc0];
        if ((ins.Flags & Fl.HasC) != 0)
        {
            ulong count = Rd(firstBar, ins.B);
            if (count != (ulong)_nThreads && count != (ulong)((_nThreads + 31) & ~31))
                throw Fail(PtxCheckKind.BarrierDivergence, firstBar,
                    $"bar.sync with a thread count of {count} in a block of {_nThreads}: partial barriers are not supported");
        }
        _phase = ++_ex.Phase;
        for (int t = 0; t < _nThreads; t++)
        {
            _state[t] = Running;
            _pc[t]++;
            _run[_runCount++] = t;
        }
        _cls[(int)InstrClass.Collective] += _nThreads;
        return true;
    }

    internal PtxDim3 Tid(int t) => new(t % _block.X, t / _block.X % _block.Y, t / (_block.X * _block.Y));

    internal PtxCheckException Fail(PtxCheckKind kind, int t, string detail, ulong? address = null, string? label = null)
    {
        int pc = t >= 0 ? _pc[t] : 0;
        int line = (uint)pc < (uint)_code.Length ? _code[pc].Line : 0;
        string? loc = (uint)pc < (uint)_code.Length && _code[pc].Loc >= 0 ? _k.Locs[_code[pc].Loc] : null;
        return new PtxCheckException(kind, detail, _k.Name, _ctaid, t >= 0 ? Tid(t) : default, line, loc, address, label, _o.Seed);
    }

    /// <summary>Reads an operand of thread t outside the hot loop.</summary>
    ulong Rd(int t, int o) => o >= 0 ? _regs[t * _frame + o] : _consts[~o];
}
