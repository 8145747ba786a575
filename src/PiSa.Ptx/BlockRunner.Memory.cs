using System.Runtime.CompilerServices;

namespace PiSa.Ptx;

internal sealed partial class BlockRunner
{
    // ------------------------------------------------------------------ global

    /// <summary>Bounds, alignment, use-after-free (always) and initialisation / nc (with Checks) of a global access.</summary>
    // the interpreter's hot paths: compiled fully optimised at once (short test processes never reach tier 1)
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    PtxMemory.Region GlobalRegion(int t, ulong addr, int size, bool write, bool nc, out int off)
    {
        var r = _mem.Find(addr);
        if (r == null || addr - r.Start + (ulong)size > (ulong)r.Length)
            throw Fail(PtxCheckKind.OutOfBounds, t, OutOfBoundsDetail(addr, size, write, r), addr, r?.Label ?? NearestLabel(addr));
        if (r.Data == null)
            throw Fail(PtxCheckKind.UseAfterFree, t, $"{(write ? "write to" : "read of")} freed memory", addr, r.Label);
        if ((addr & (ulong)(size - 1)) != 0)
            throw Fail(PtxCheckKind.Misaligned, t, $"misaligned {size}-byte global {(write ? "store" : "load")}", addr, r.Label);
        off = (int)(addr - r.Start);
        var sh = r.Shadow!;
        if (write)
        {
            for (int b = 0; b < size; b++) sh[off + b] = PtxMemory.Written | PtxMemory.WrittenThisLaunch;
            _mem.Touch(r);
        }
        else if (_checks)
        {
            for (int b = 0; b < size; b++)
            {
                byte s = sh[off + b];
                if ((s & PtxMemory.Written) == 0)
                    throw Fail(PtxCheckKind.UninitialisedGlobal, t,
                        $"read of device memory never written since allocation (byte {off + b} of {r.Length})", addr + (ulong)b, r.Label);
                if (nc && (s & PtxMemory.WrittenThisLaunch) != 0)
                    throw Fail(PtxCheckKind.NonCoherentRead, t,
                        $"ld.global.nc of bytes written earlier in this launch (byte {off + b} of {r.Length})", addr + (ulong)b, r.Label);
            }
        }
        return r;
    }

    string OutOfBoundsDetail(ulong addr, int size, bool write, PtxMemory.Region? r)
    {
        string what = $"{(write ? "write" : "read")} of {size} bytes";
        if (r != null) return $"{what} past the end of a {r.Length}-byte allocation (offset {addr - r.Start})";
        return $"{what} outside every allocation";
    }

    string? NearestLabel(ulong addr)
    {
        // the allocation just below the address: an overrun usually comes from it
        var below = _mem.Below(addr);
        return below == null ? null : $"{below.Label}+{addr - below.Start} (allocation is {below.Length} bytes)";
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void LdGlobal(int t, ref ulong rf, ref Instr i, ulong addr)
    {
        int es = i.W >> 3, size = es * i.VecN;
        var r = GlobalRegion(t, addr, size, false, (i.Flags & Fl.Nc) != 0, out int off);
        var data = r.Data!;
        for (int k = 0; k < i.VecN; k++)
            Set(ref rf, _vecs[i.Vec + k], Load(data.AsSpan(off + k * es), ref i));
        Stats.GlobalBytesRead += size;
        RecordGlobal(t, i.Slot, addr, size);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void StGlobal(int t, ref ulong rf, ref Instr i, ulong addr)
    {
        int es = i.W >> 3, size = es * i.VecN;
        var r = GlobalRegion(t, addr, size, true, false, out int off);
        var data = r.Data!;
        for (int k = 0; k < i.VecN; k++)
            Store(data.AsSpan(off + k * es), ref i, R(ref rf, _consts, _vecs[i.Vec + k]));
        Stats.GlobalBytesWritten += size;
        RecordGlobal(t, i.Slot, addr, size);
    }

    // ------------------------------------------------------------------ shared

    string SharedLabel => $"shared memory ({_k.StaticSharedBytes} static + {_dyn} dynamic bytes)";

    /// <summary>
    /// Bounds and alignment (always); with Checks, initialisation and the race check: two threads touching the same
    /// byte in one barrier phase, at least one writing, with no full-warp collective of both in between.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    int SharedCheck(int t, ulong addr, int size, bool write, bool atomic = false)
    {
        if (addr + (ulong)size > (ulong)_sharedSize || addr >= (ulong)_sharedSize)
            throw Fail(PtxCheckKind.OutOfBounds, t, $"{(write ? "write" : "read")} of {size} bytes at shared offset {addr}, " +
                                                    $"past the end of the block's {_sharedSize} bytes", addr, SharedLabel);
        if ((addr & (ulong)(size - 1)) != 0)
            throw Fail(PtxCheckKind.Misaligned, t, $"misaligned {size}-byte shared access at offset {addr}", addr, SharedLabel);
        int off = (int)addr;
        if (!_checks) return off;
        int w = t >> 5;
        ulong stamp = ((ulong)_phase << 32) | ((ulong)(_wsync[w] & 0xFFFFF) << 12) | (uint)(t + 1);
        for (int b = off; b < off + size; b++)
        {
            ulong ws = _wst[b];
            if (!write || atomic)
            {
                if ((uint)(ws >> 32) < _blockStartPhase)
                    throw Fail(PtxCheckKind.UninitialisedShared, t, $"read of shared memory not written in this launch (offset {b})",
                        (ulong)b, SharedLabel);
            }
            if (!atomic && Conflicts(ws, t, w))
                throw Fail(PtxCheckKind.SharedRace, t, RaceDetail(write, "written", ws, b), (ulong)b, SharedLabel);
            if (write)
            {
                if (!atomic && Conflicts(_rst[b], t, w))
                    throw Fail(PtxCheckKind.SharedRace, t, RaceDetail(true, "read", _rst[b], b), (ulong)b, SharedLabel);
                _wst[b] = stamp;
                if (_wfence.Length != 0)
                {
                    if (_wgReading[b] != 0) throw WgWriteRace(t, b);
                    _wfence[b] = _proxyFences[t];   // wgmma's proxy check: fenced since?
                }
            }
            else
            {
                ulong rs = _rst[b];
                if ((uint)(rs >> 32) != _phase || (rs & 0xFFF) == (ulong)(t + 1)) _rst[b] = stamp;
                else
                {
                    // a second reader in this phase: remember "several, all in warp w" or "several warps"
                    uint tid = (uint)(rs & 0xFFF);
                    int rw = tid >= 0x800 ? (tid == 0xFFF ? -1 : (int)(tid & 0x7FF)) : (int)(tid - 1) >> 5;
                    uint merged = rw == w ? 0x800u | (uint)w : 0xFFFu;
                    _rst[b] = ((ulong)_phase << 32) | ((ulong)(_wsync[w] & 0xFFFFF) << 12) | merged;
                }
            }
        }
        return off;
    }

    /// <summary>Does an earlier access stamp conflict with an access by thread t (warp w) now?</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    bool Conflicts(ulong stamp, int t, int w)
    {
        if ((uint)(stamp >> 32) != _phase) return false;          // before the last barrier
        uint tid = (uint)(stamp & 0xFFF);
        if (tid == 0 || tid == (uint)(t + 1)) return false;         // nobody, or this thread
        int sw;
        if (tid < 0x800) sw = (int)(tid - 1) >> 5;
        else if (tid == 0xFFF) sw = -1;
        else if (tid >= 0xC00) return (uint)(w >> 2) != (tid & 0x3FF);   // read by a wgmma of warpgroup tid & 0x3FF: ordered for its own threads
        else sw = (int)(tid & 0x7FF);
        if (sw != w) return true;                                  // another warp, no barrier between
        uint then = (uint)(stamp >> 12) & 0xFFFFF;
        return then == (_wsync[w] & 0xFFFFF);                      // same warp: synced by a collective since?
    }

    string RaceDetail(bool write, string earlier, ulong stamp, int b)
    {
        uint tid = (uint)(stamp & 0xFFF);
        string who = (tid & 0xC00) == 0xC00 && tid != 0xFFF ? $"a wgmma.mma_async of warpgroup {tid & 0x3FF}"
            : tid >= 0x800 ? (tid == 0xFFF ? "threads of several warps" : $"several threads of warp {tid & 0x7FF}")
            : $"thread {Tid((int)tid - 1)}";
        return $"shared-memory race: {(write ? "write" : "read")} of offset {b}, {earlier} by {who} since the last barrier";
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void LdShared(int t, ref ulong rf, ref Instr i, ulong addr)
    {
        int es = i.W >> 3, size = es * i.VecN;
        int off = SharedCheck(t, addr, size, false);
        for (int k = 0; k < i.VecN; k++)
            Set(ref rf, _vecs[i.Vec + k], Load(_shared.AsSpan(off + k * es), ref i));
        Stats.SharedBytesRead += size;
        RecordShared(t, i.Slot, (uint)addr, size);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void StShared(int t, ref ulong rf, ref Instr i, ulong addr)
    {
        int es = i.W >> 3, size = es * i.VecN;
        int off = SharedCheck(t, addr, size, true);
        for (int k = 0; k < i.VecN; k++)
            Store(_shared.AsSpan(off + k * es), ref i, R(ref rf, _consts, _vecs[i.Vec + k]));
        Stats.SharedBytesWritten += size;
        RecordShared(t, i.Slot, (uint)addr, size);
    }

    // ------------------------------------------------------------------ local

    int LocalCheck(int t, ulong addr, int size, bool write)
    {
        if (addr + (ulong)size > (ulong)_localBytes || addr >= (ulong)_localBytes)
            throw Fail(PtxCheckKind.OutOfBounds, t, $"{(write ? "write" : "read")} of {size} bytes at local offset {addr}, past the thread's {_localBytes} bytes", addr, "local memory");
        if ((addr & (ulong)(size - 1)) != 0)
            throw Fail(PtxCheckKind.Misaligned, t, $"misaligned {size}-byte local access at offset {addr}", addr, "local memory");
        int off = t * _localBytes + (int)addr;
        if (write) _localW.AsSpan(off, size).Fill(1);
        else if (_checks && _localW.AsSpan(off, size).IndexOf((byte)0) >= 0)
            throw Fail(PtxCheckKind.UninitialisedShared, t, $"read of local memory not written (offset {addr})", addr, "local memory");
        return off;
    }

    void LdLocal(int t, ref ulong rf, ref Instr i, ulong addr)
    {
        int es = i.W >> 3;
        int off = LocalCheck(t, addr, es * i.VecN, false);
        for (int k = 0; k < i.VecN; k++) Set(ref rf, _vecs[i.Vec + k], Load(_local.AsSpan(off + k * es), ref i));
    }

    void StLocal(int t, ref ulong rf, ref Instr i, ulong addr)
    {
        int es = i.W >> 3;
        int off = LocalCheck(t, addr, es * i.VecN, true);
        for (int k = 0; k < i.VecN; k++) Store(_local.AsSpan(off + k * es), ref i, R(ref rf, _consts, _vecs[i.Vec + k]));
    }

    // ------------------------------------------------------------------ atomics

    void Atomic(int t, ref ulong rf, ref Instr i)
    {
        ulong addr = R(ref rf, _consts, i.A) + (ulong)i.Imm;
        int size = i.W >> 3;
        Span<byte> cell;
        bool shared = i.Op == Op.AtomShared || (i.Op == Op.AtomGeneric && addr - SharedWindow < WindowSize);
        if (shared)
        {
            if (i.Op == Op.AtomGeneric) addr -= SharedWindow;
            int off = SharedCheck(t, addr, size, true, atomic: true);
            cell = _shared.AsSpan(off, size);
            RecordShared(t, i.Slot, (uint)addr, size);
        }
        else
        {
            var r = GlobalRegion(t, addr, size, false, false, out int off);
            GlobalRegion(t, addr, size, true, false, out _);
            cell = r.Data.AsSpan(off, size);
            Stats.GlobalBytesRead += size;
            Stats.GlobalBytesWritten += size;
            RecordGlobal(t, i.Slot, addr, size);
        }
        ulong old = Load(cell, ref i) & i.Mask;
        ulong b = R(ref rf, _consts, i.B) & i.Mask;
        bool f32 = i.T == PtxType.F32, f64 = i.T == PtxType.F64, s = PtxDecoder.IsSigned(i.T);
        ulong nv = i.Mode switch
        {
            AtomOp.Add => f32 ? PtxMath.Bits(PtxMath.F(old) + PtxMath.F(b)) : f64 ? PtxMath.Bits(PtxMath.D(old) + PtxMath.D(b)) : old + b,
            AtomOp.Min => f32 ? PtxMath.Bits(PtxMath.Min(PtxMath.F(old), PtxMath.F(b), false))
                : s ? (ulong)Math.Min(PtxMath.SignExtend(old, i.W), PtxMath.SignExtend(b, i.W)) : Math.Min(old, b),
            AtomOp.Max => f32 ? PtxMath.Bits(PtxMath.Max(PtxMath.F(old), PtxMath.F(b), false))
                : s ? (ulong)Math.Max(PtxMath.SignExtend(old, i.W), PtxMath.SignExtend(b, i.W)) : Math.Max(old, b),
            AtomOp.Exch => b,
            AtomOp.Cas => old == b ? R(ref rf, _consts, i.C) : old,
            AtomOp.And => old & b,
            AtomOp.Or => old | b,
            AtomOp.Xor => old ^ b,
            AtomOp.Inc => old >= b ? 0 : old + 1,
            _ => old == 0 || old > b ? b : old - 1,
        };
        Store(cell, ref i, nv & i.Mask);
        Set(ref rf, i.D, old);
    }
}
