namespace PiSa.Ptx;

/// <summary>
/// cp.async: the copy is checked when issued but performed only when the issuing thread waits for its group
/// (cp.async.wait_group / wait_all), so a kernel that reads the destination too early reads the old bytes (or is
/// caught by the initialisation check), as it could on the GPU.
/// </summary>
internal sealed partial class BlockRunner
{
    struct CpOp
    {
        public int Pc, Group, Size, SrcSize;
        public uint Dst;
        public ulong Src;
    }

    List<CpOp>?[] _cp = [];
    int[] _cpGroups = [];

    void ResetCpAsync()
    {
        if (_cp.Length != _nThreads)
        {
            _cp = new List<CpOp>?[_nThreads];
            _cpGroups = new int[_nThreads];
        }
        foreach (var l in _cp) l?.Clear();
        Array.Clear(_cpGroups);
    }

    void CpAsyncIssue(int t, ref ulong rf, ref Instr i)
    {
        ulong dst = R(ref rf, _consts, i.A) + (ulong)i.Imm;
        ulong src = R(ref rf, _consts, i.B) + (ulong)i.Imm2;
        int size = i.W;
        int srcSize = (i.Flags & Fl.HasC) != 0 ? (int)Math.Min(R(ref rf, _consts, i.C) & 0xFFFF_FFFF, (ulong)size) : size;
        if (dst + (ulong)size > (ulong)_sharedSize)
            throw Fail(PtxCheckKind.OutOfBounds, t, $"cp.async of {size} bytes to shared offset {dst}, past the block's {_sharedSize} bytes", dst, SharedLabel);
        if ((dst & (ulong)(size - 1)) != 0)
            throw Fail(PtxCheckKind.Misaligned, t, $"cp.async destination {dst} is not {size}-byte aligned", dst, SharedLabel);
        if (srcSize > 0)
        {
            if ((src & (ulong)(size - 1)) != 0)
                throw Fail(PtxCheckKind.Misaligned, t, $"cp.async source 0x{src:x} is not {size}-byte aligned", src, _mem.LabelOf(src));
            GlobalRegion(t, src, srcSize, false, false, out _);
            Stats.GlobalBytesRead += srcSize;
            RecordGlobal(t, i.Slot, src, srcSize);
        }
        // the copy may land any time from now: not into bytes an in-flight wgmma reads
        if (_wgReading.Length != 0)
            for (int b = (int)dst; b < (int)dst + size; b++)
                if (_wgReading[b] != 0) throw WgWriteRace(t, b);
        (_cp[t] ??= new List<CpOp>()).Add(new CpOp { Pc = _pc[t], Group = -1, Size = size, SrcSize = srcSize, Dst = (uint)dst, Src = src });
    }

    void CpAsyncCommit(int t)
    {
        var l = _cp[t];
        if (l == null) { _cpGroups[t]++; return; }
        int g = _cpGroups[t]++;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(l);
        for (int k = 0; k < span.Length; k++)
            if (span[k].Group < 0) span[k].Group = g;
    }

    /// <summary>Completes all but the <paramref name="keep"/> most recent committed groups (keep -1: wait_all).</summary>
    void CpAsyncWait(int t, long keep)
    {
        var l = _cp[t];
        if (l == null || l.Count == 0) return;
        long limit = keep < 0 ? long.MaxValue : _cpGroups[t] - keep;
        Span<byte> buf = stackalloc byte[16];
        int w = 0;
        for (int k = 0; k < l.Count; k++)
        {
            var op = l[k];
            bool done = keep < 0 || (op.Group >= 0 && op.Group < limit);
            if (!done) { l[w++] = op; continue; }
            buf.Clear();
            if (op.SrcSize > 0)
            {
                var r = GlobalRegion(t, op.Src, op.SrcSize, false, false, out int off);
                r.Data.AsSpan(off, op.SrcSize).CopyTo(buf);
            }
            int so = SharedCheck(t, op.Dst, op.Size, true);
            buf[..op.Size].CopyTo(_shared.AsSpan(so));
            Stats.SharedBytesWritten += op.Size;
        }
        l.RemoveRange(w, l.Count - w);
    }
}
