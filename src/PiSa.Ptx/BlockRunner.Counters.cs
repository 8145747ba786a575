namespace PiSa.Ptx;

/// <summary>
/// The coalescing and bank-conflict model. Threads run independently, so a warp's "request" is rebuilt per memory
/// instruction: the accesses of one instruction by distinct lanes of a warp belong to one request until a lane
/// comes back to that instruction (its next loop iteration), which closes the request. A global request counts the
/// distinct 32-byte sectors it touches; a shared request counts wavefronts: accesses are served in phases (32 lanes
/// for up to 4-byte accesses, 16 for 8-byte, 8 for 16-byte) and a phase takes as many wavefronts as the most
/// distinct 4-byte words any one of the 32 banks must deliver (the same word to several lanes is a broadcast).
/// </summary>
internal sealed partial class BlockRunner
{
    const int SectorCap = 32;
    int _slots;
    uint[] _gMask = [], _sMask = [];
    byte[] _gN = [], _sSize = [];
    ulong[] _gSec = [];
    uint[] _sAddr = [];

    void InitCounters()
    {
        _slots = _k.MemSlots;
        int n = _nWarps * _slots;
        _gMask = new uint[n];
        _gN = new byte[n];
        _gSec = new ulong[n * SectorCap];
        _sMask = new uint[n];
        _sSize = new byte[n];
        _sAddr = new uint[n * 32];
    }

    // the interpreter's hot paths: compiled fully optimised at once (short test processes never reach tier 1)
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void RecordGlobal(int t, int slot, ulong addr, int size)
    {
        int idx = (t >> 5) * _slots + slot;
        uint bit = 1u << (t & 31);
        if ((_gMask[idx] & bit) != 0) CloseGlobal(idx);
        _gMask[idx] |= bit;
        int b = idx * SectorCap;
        for (ulong s = addr >> 5; s <= (addr + (ulong)size - 1) >> 5; s++)
        {
            int n = _gN[idx];
            bool seen = false;
            // coalesced warps hit the sector the previous lane hit: look from the end
            for (int k = n - 1; k >= 0; k--)
                if (_gSec[b + k] == s) { seen = true; break; }
            if (seen) continue;
            if (n == SectorCap) { CloseGlobal(idx); _gMask[idx] = bit; n = 0; }
            _gSec[b + n] = s;
            _gN[idx] = (byte)(n + 1);
        }
    }

    void CloseGlobal(int idx)
    {
        if (_gMask[idx] == 0) return;
        Stats.GlobalRequests++;
        Stats.GlobalSectors += _gN[idx];
        _gMask[idx] = 0;
        _gN[idx] = 0;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void RecordShared(int t, int slot, uint addr, int size)
    {
        int idx = (t >> 5) * _slots + slot;
        uint bit = 1u << (t & 31);
        if ((_sMask[idx] & bit) != 0 || (_sMask[idx] != 0 && _sSize[idx] != size)) CloseShared(idx);
        _sMask[idx] |= bit;
        _sSize[idx] = (byte)size;
        _sAddr[idx * 32 + (t & 31)] = addr;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void CloseShared(int idx)
    {
        uint mask = _sMask[idx];
        if (mask == 0) return;
        int size = _sSize[idx];
        int perPhase = size <= 4 ? 32 : size == 8 ? 16 : 8;
        Span<uint> words = stackalloc uint[32 * 4];
        Span<int> bank = stackalloc int[32];
        long wavefronts = 0;
        for (int p = 0; p < 32; p += perPhase)
        {
            int n = 0;
            for (int l = p; l < p + perPhase; l++)
            {
                if ((mask & (1u << l)) == 0) continue;
                uint a = _sAddr[idx * 32 + l];
                for (uint w = a >> 2; w <= (a + (uint)size - 1) >> 2; w++) words[n++] = w;
            }
            if (n == 0) continue;
            var ws = words[..n];
            ws.Sort();
            bank.Clear();
            int most = 0;
            for (int k = 0; k < n; k++)
            {
                if (k > 0 && ws[k] == ws[k - 1]) continue;
                int c = ++bank[(int)(ws[k] & 31)];
                if (c > most) most = c;
            }
            wavefronts += most;
        }
        Stats.SharedRequests++;
        Stats.SharedWavefronts += wavefronts;
        _sMask[idx] = 0;
    }

    /// <summary>Closes every open request at the end of a block.</summary>
    void FlushCounters()
    {
        for (int i = 0; i < _gMask.Length; i++) CloseGlobal(i);
        for (int i = 0; i < _sMask.Length; i++) CloseShared(i);
    }
}
