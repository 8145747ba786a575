namespace PiSa.Ptx;

internal sealed partial class BlockRunner
{
    /// <summary>The lanes of warp w that exist in this block (the last warp may be partial).</summary>
    uint WarpLanes(int w)
    {
        int n = Math.Min(32, _nThreads - w * 32);
        return n >= 32 ? 0xFFFF_FFFFu : (1u << n) - 1;
    }

    /// <summary>The member mask a waiting lane's collective names (mma/ldmatrix: the whole warp).</summary>
    uint MemberMask(int t)
    {
        ref var i = ref _code[_pc[t]];
        return i.Op is Op.Mma or Op.Ldmatrix ? WarpLanes(t >> 5) : (uint)Rd(t, i.Op == Op.WarpSync ? i.A : i.E);
    }

    /// <summary>A lane reached a warp collective: its mask must name itself and no exited lane.</summary>
    void ArriveWarp(int t, ref Instr i)
    {
        _state[t] = AtWarp;
        int w = t >> 5, lane = t & 31;
        _atWarp[w] |= 1u << lane;
        uint mask = MemberMask(t);
        if ((mask & (1u << lane)) == 0)
            throw Fail(PtxCheckKind.InactiveLane, t, $"{i.Op} member mask 0x{mask:x8} does not name the executing lane {lane}");
        uint exist = WarpLanes(w);
        if (i.Op is Op.Mma or Op.Ldmatrix && exist != 0xFFFF_FFFFu)
            throw Fail(PtxCheckKind.InactiveLane, t, $"{i.Op} needs all 32 lanes of the warp; this block's last warp has lanes 0x{exist:x8}");
        if ((mask & ~exist) != 0)
            throw Fail(PtxCheckKind.InactiveLane, t, $"{i.Op} member mask 0x{mask:x8} names lanes that do not exist in this block (warp lanes 0x{exist:x8})");
        if ((mask & _exited[w]) != 0)
            throw Fail(PtxCheckKind.InactiveLane, t, $"{i.Op} member mask 0x{mask:x8} names lane {System.Numerics.BitOperations.TrailingZeroCount(mask & _exited[w])}, which has exited");
    }

    /// <summary>Completes every collective of warp w whose participants have all arrived.</summary>
    // the interpreter's hot paths: compiled fully optimised at once (short test processes never reach tier 1)
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void ResolveWarp(int w)
    {
        uint waiting = _atWarp[w];
        if (waiting == 0) return;
        int b = w * 32;
        uint handled = 0;
        for (uint rest = waiting; rest != 0; rest &= rest - 1)
        {
            int l = System.Numerics.BitOperations.TrailingZeroCount(rest);
            if ((handled & (1u << l)) != 0) continue;
            int t = b + l;
            uint mask = MemberMask(t);
            handled |= mask;
            if ((mask & _exited[w]) != 0)
                throw Fail(PtxCheckKind.InactiveLane, t, $"{_code[_pc[t]].Op} member mask 0x{mask:x8} names lane " +
                                                         $"{System.Numerics.BitOperations.TrailingZeroCount(mask & _exited[w])}, which has exited");
            if ((mask & ~_atWarp[w]) != 0) continue;   // someone named has not arrived yet
            ref var i0 = ref _code[_pc[t]];
            for (uint ms = mask; ms != 0; ms &= ms - 1)
            {
                int m = System.Numerics.BitOperations.TrailingZeroCount(ms);
                int u = b + m;
                if (_pc[u] == _pc[t]) continue;
                ref var iu = ref _code[_pc[u]];
                if (iu.Op != i0.Op || iu.Mode != i0.Mode || MemberMask(u) != mask || i0.Op is Op.Mma or Op.Ldmatrix)
                    throw Fail(PtxCheckKind.BarrierDivergence, u,
                        $"warp divergence: lane {m} waits at {iu.Op} ({_k.Where(_pc[u])}, mask 0x{MemberMask(u):x8}) while lane {l} " +
                        $"waits at {i0.Op} ({_k.Where(_pc[t])}, mask 0x{mask:x8})");
            }
            Execute(w, mask, ref i0);
            // a collective of every live lane of the warp orders their shared-memory accesses (race check)
            uint live = WarpLanes(w) & ~_exited[w];
            if ((mask & live) == live) _wsync[w]++;
            _atWarp[w] &= ~mask;
            for (uint ms = mask; ms != 0; ms &= ms - 1)
            {
                int u = b + System.Numerics.BitOperations.TrailingZeroCount(ms);
                _state[u] = Running;
                _pc[u]++;
                _run[_runCount++] = u;
            }
            _cls[(int)InstrClass.Collective] += System.Numerics.BitOperations.PopCount(mask);
        }
    }

    /// <summary>Nothing can run and some lane waits at a warp collective: say why it can never complete.</summary>
    void DiagnoseWarp(int t)
    {
        int w = t >> 5;
        uint mask = MemberMask(t);
        ref var i = ref _code[_pc[t]];
        for (int m = 0; m < Math.Min(32, _nThreads - w * 32); m++)
        {
            if ((mask & (1u << m)) == 0) continue;
            int u = w * 32 + m;
            if (_state[u] == AtBarrier)
                throw Fail(PtxCheckKind.Deadlock, t,
                    $"deadlock: this lane waits at {i.Op} (mask 0x{mask:x8}) while lane {m} waits at bar.sync ({_k.Where(_pc[u])})");
        }
        throw Fail(PtxCheckKind.Deadlock, t, $"deadlock: {i.Op} (mask 0x{mask:x8}) can never complete");
    }

    void Execute(int w, uint mask, ref Instr i0)
    {
        int b = w * 32;
        switch (i0.Op)
        {
            case Op.WarpSync: return;
            case Op.Shfl: Shfl(b, mask); return;
            case Op.Vote: Vote(b, mask); return;
            case Op.Mma: Mma(b, ref i0); return;
            case Op.Ldmatrix: Ldmatrix(b, ref i0); return;
        }
    }

    /// <summary>
    /// shfl.sync, as the PTX ISA's pseudo-code for it: each lane computes its source lane j from b (lane/offset/mask)
    /// and c (clamp value in bits 0-4, segment mask in bits 8-12); out of range, it reads its own value and p = false.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void Shfl(int b, uint mask)
    {
        Span<ulong> src = stackalloc ulong[32];
        Span<ulong> res = stackalloc ulong[32];
        Span<bool> pv = stackalloc bool[32];
        for (int l = 0; l < 32; l++)
            if ((mask & (1u << l)) != 0) src[l] = Rd(b + l, _code[_pc[b + l]].A) & 0xFFFF_FFFF;
        for (int l = 0; l < 32; l++)
        {
            if ((mask & (1u << l)) == 0) continue;
            int t = b + l;
            ref var i = ref _code[_pc[t]];
            int bval = (int)(Rd(t, i.B) & 31);
            uint c = (uint)Rd(t, i.C);
            int cval = (int)(c & 31), seg = (int)((c >> 8) & 31);
            int maxLane = (l & seg) | (cval & ~seg);
            int minLane = l & seg;
            int j;
            bool p;
            switch (i.Mode)
            {
                case 0: j = l - bval; p = j >= maxLane; break;              // up
                case 1: j = l + bval; p = j <= maxLane; break;              // down
                case 2: j = l ^ bval; p = j <= maxLane; break;              // bfly
                default: j = minLane | (bval & ~seg); p = j <= maxLane; break; // idx
            }
            if (!p) j = l;
            // a source lane outside the member mask gives an undefined value on the GPU: poison it
            res[l] = (uint)j < 32 && (mask & (1u << j)) != 0 ? src[j] : 0xFFFF_FFFFUL;
            pv[l] = p;
        }
        for (int l = 0; l < 32; l++)
        {
            if ((mask & (1u << l)) == 0) continue;
            int t = b + l;
            ref var i = ref _code[_pc[t]];
            _regs[t * _frame + i.D] = res[l];
            if (i.D2 >= 0) _regs[t * _frame + i.D2] = pv[l] ? 1UL : 0UL;
        }
    }

    void Vote(int b, uint mask)
    {
        uint ballot = 0;
        for (int l = 0; l < 32; l++)
            if ((mask & (1u << l)) != 0 && Rd(b + l, _code[_pc[b + l]].A) != 0) ballot |= 1u << l;
        for (int l = 0; l < 32; l++)
        {
            if ((mask & (1u << l)) == 0) continue;
            int t = b + l;
            ref var i = ref _code[_pc[t]];
            ulong v = i.Mode switch
            {
                0 => ballot == mask ? 1UL : 0UL,
                1 => ballot != 0 ? 1UL : 0UL,
                2 => ballot == 0 || ballot == mask ? 1UL : 0UL,
                _ => ballot,
            };
            _regs[t * _frame + i.D] = v;
        }
    }

    /// <summary>
    /// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 with the fragment layouts of the PTX ISA
    /// ("Matrix Fragments for mma.m16n8k16 with floating point type"): for lane l, group g = l / 4 and t = l % 4,
    /// A regs: (g, 2t..2t+1), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..); B regs: (k = 2t..2t+1, n = g), (k = 2t+8.., n = g);
    /// C/D: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1). Products are exact and summed in double, rounded once to f32.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void Mma(int b, ref Instr i)
    {
        Span<double> A = stackalloc double[16 * 16];   // [m][k]
        Span<double> Bt = stackalloc double[8 * 16];   // [n][k]: the k loop runs over contiguous memory
        Span<double> C = stackalloc double[16 * 8];    // [m][n]
        bool bf = i.T2 == PtxType.Bf16;
        int v = i.Vec;
        var vecs = _vecs;
        for (int l = 0; l < 32; l++)
        {
            int t = b + l, g = l >> 2, tg = l & 3;
            for (int r = 0; r < 4; r++)
            {
                ulong a = Rd(t, vecs[v + 4 + r]);
                int row = g + ((r & 1) != 0 ? 8 : 0), col = 2 * tg + ((r & 2) != 0 ? 8 : 0);
                A[row * 16 + col] = Half16(a, bf);
                A[row * 16 + col + 1] = Half16(a >> 16, bf);
            }
            for (int r = 0; r < 2; r++)
            {
                ulong x = Rd(t, vecs[v + 8 + r]);
                int k = 2 * tg + (r != 0 ? 8 : 0);
                Bt[g * 16 + k] = Half16(x, bf);
                Bt[g * 16 + k + 1] = Half16(x >> 16, bf);
            }
            for (int r = 0; r < 4; r++)
            {
                int row = g + (r >= 2 ? 8 : 0), col = 2 * tg + (r & 1);
                C[row * 8 + col] = PtxMath.F(Rd(t, vecs[v + 10 + r]));
            }
        }
        // products of f16/bf16 values are exact in double and the 17-term sums nearly so: rounded once to f32
        for (int m = 0; m < 16; m++)
        {
            var ar = A.Slice(m * 16, 16);
            for (int n = 0; n < 8; n++)
            {
                var bc = Bt.Slice(n * 16, 16);
                double s = C[m * 8 + n];
                for (int k = 0; k < 16; k++) s += ar[k] * bc[k];
                C[m * 8 + n] = s;
            }
        }
        for (int l = 0; l < 32; l++)
        {
            int t = b + l, g = l >> 2, tg = l & 3;
            for (int r = 0; r < 4; r++)
            {
                int row = g + (r >= 2 ? 8 : 0), col = 2 * tg + (r & 1);
                _regs[t * _frame + vecs[v + r]] = PtxMath.Bits((float)C[row * 8 + col]);
            }
        }
        Stats.MmaCount++;
    }

    static float Half16(ulong bits, bool bf) => bf ? PtxMath.FromBf16(bits & 0xFFFF) : PtxMath.FromHalf(bits & 0xFFFF);

    /// <summary>
    /// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}[.trans].shared.b16 as the PTX ISA describes it: lanes 8q..8q+7 give the
    /// addresses of rows 0..7 of matrix q; lane l receives in register q the 32 bits at row l / 4, columns 2(l % 4)
    /// and 2(l % 4) + 1 of matrix q, or with .trans the elements (row 2(l % 4), col l / 4) and (row 2(l % 4) + 1, col l / 4).
    /// </summary>
    void Ldmatrix(int b, ref Instr i)
    {
        int n = i.VecN;
        bool trans = (i.Flags & Fl.Trans) != 0, generic = (i.Flags & Fl.HasC) != 0;
        Span<int> rowOff = stackalloc int[32];
        for (int q = 0; q < n; q++)
            for (int r = 0; r < 8; r++)
            {
                int t = b + q * 8 + r;
                ref var it = ref _code[_pc[t]];
                ulong addr = Rd(t, it.A) + (ulong)it.Imm;
                if (generic)
                {
                    if (addr - SharedWindow >= WindowSize)
                        throw Fail(PtxCheckKind.OutOfBounds, t, $"ldmatrix row address 0x{addr:x} is not in shared memory", addr);
                    addr -= SharedWindow;
                }
                if ((addr & 15) != 0)
                    throw Fail(PtxCheckKind.Misaligned, t, $"ldmatrix row address {addr} is not 16-byte aligned", addr, SharedLabel);
                rowOff[q * 8 + r] = SharedCheck(t, addr, 16, false);
                RecordShared(t, it.Slot, (uint)addr, 16);
                Stats.SharedBytesRead += 16;
            }
        for (int l = 0; l < 32; l++)
        {
            int t = b + l;
            ref var it = ref _code[_pc[t]];
            for (int q = 0; q < n; q++)
            {
                ulong v;
                if (!trans)
                {
                    int o = rowOff[q * 8 + (l >> 2)] + 4 * (l & 3);
                    v = BitConverter.ToUInt32(_shared, o);
                }
                else
                {
                    int col = l >> 2, r0 = 2 * (l & 3);
                    ulong lo = BitConverter.ToUInt16(_shared, rowOff[q * 8 + r0] + 2 * col);
                    ulong hi = BitConverter.ToUInt16(_shared, rowOff[q * 8 + r0 + 1] + 2 * col);
                    v = lo | (hi << 16);
                }
                _regs[t * _frame + _vecs[it.Vec + q]] = v;
            }
        }
    }
}
