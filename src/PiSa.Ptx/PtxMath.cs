using System.Numerics;
using System.Runtime.CompilerServices;

namespace PiSa.Ptx;

/// <summary>The numerics of PTX instructions that C# does not give directly (ftz, sat, NaN rules, half types).</summary>
internal static class PtxMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F(ulong bits) => BitConverter.UInt32BitsToSingle((uint)bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bits(float f) => BitConverter.SingleToUInt32Bits(f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double D(ulong bits) => BitConverter.UInt64BitsToDouble(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bits(double d) => BitConverter.DoubleToUInt64Bits(d);

    /// <summary>.ftz: a subnormal becomes a zero of the same sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Ftz(float f) => float.IsSubnormal(f) ? (f < 0 ? -0f : 0f) : f;

    /// <summary>.sat: clamp to [0, 1], NaN to 0.</summary>
    public static float Sat(float f) => float.IsNaN(f) ? 0f : f < 0f ? 0f : f > 1f ? 1f : f;

    /// <summary>
    /// min.f32: a NaN operand yields the other operand (NaN only when both are); -0 is less than +0.
    /// With .NaN the result is the canonical NaN when either is NaN.
    /// </summary>
    public static float Min(float a, float b, bool nan)
    {
        if (float.IsNaN(a) || float.IsNaN(b))
            return nan || (float.IsNaN(a) && float.IsNaN(b)) ? float.NaN : float.IsNaN(a) ? b : a;
        if (a == b) return float.IsNegative(a) ? a : b;
        return a < b ? a : b;
    }

    public static float Max(float a, float b, bool nan)
    {
        if (float.IsNaN(a) || float.IsNaN(b))
            return nan || (float.IsNaN(a) && float.IsNaN(b)) ? float.NaN : float.IsNaN(a) ? b : a;
        if (a == b) return float.IsNegative(a) ? b : a;
        return a > b ? a : b;
    }

    public static double Min(double a, double b)
    {
        if (double.IsNaN(a) || double.IsNaN(b)) return double.IsNaN(a) && double.IsNaN(b) ? double.NaN : double.IsNaN(a) ? b : a;
        if (a == b) return double.IsNegative(a) ? a : b;
        return a < b ? a : b;
    }

    public static double Max(double a, double b)
    {
        if (double.IsNaN(a) || double.IsNaN(b)) return double.IsNaN(a) && double.IsNaN(b) ? double.NaN : double.IsNaN(a) ? b : a;
        if (a == b) return double.IsNegative(a) ? b : a;
        return a > b ? a : b;
    }

    /// <summary>setp on floats: ordered comparisons are false with a NaN operand, unordered ones true.</summary>
    public static bool CompareF(double a, double b, int cmp)
    {
        bool nan = double.IsNaN(a) || double.IsNaN(b);
        return cmp switch
        {
            Cmp.Eq => !nan && a == b,
            Cmp.Ne => !nan && a != b,
            Cmp.Lt => !nan && a < b,
            Cmp.Le => !nan && a <= b,
            Cmp.Gt => !nan && a > b,
            Cmp.Ge => !nan && a >= b,
            Cmp.Equ => nan || a == b,
            Cmp.Neu => nan || a != b,
            Cmp.Ltu => nan || a < b,
            Cmp.Leu => nan || a <= b,
            Cmp.Gtu => nan || a > b,
            Cmp.Geu => nan || a >= b,
            Cmp.Num => !nan,
            _ => nan,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool CompareS(long a, long b, int cmp) => cmp switch
    {
        Cmp.Eq => a == b, Cmp.Ne => a != b, Cmp.Lt => a < b, Cmp.Le => a <= b, Cmp.Gt => a > b, _ => a >= b,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool CompareU(ulong a, ulong b, int cmp) => cmp switch
    {
        Cmp.Eq => a == b, Cmp.Ne => a != b, Cmp.Lt => a < b, Cmp.Le => a <= b, Cmp.Gt => a > b, _ => a >= b,
    };

    /// <summary>f32 -> f16 bits, round to nearest even, overflow to +-inf (System.Half does exactly this).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToHalf(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FromHalf(ulong bits) => HalfTable[(ushort)bits];

    /// <summary>f16 bits -> f32 for all 65536 patterns (System.Half's exact conversion, looked up: it is on the hot path of every kernel).</summary>
    static readonly float[] HalfTable = MakeHalfTable();

    static float[] MakeHalfTable()
    {
        var t = new float[65536];
        for (int i = 0; i < t.Length; i++) t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return t;
    }

    /// <summary>f32 -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN.</summary>
    public static ushort ToBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((u >> 16) | 0x40);
        uint lsb = (u >> 16) & 1;
        return (ushort)((u + 0x7FFF + lsb) >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FromBf16(ulong bits) => BitConverter.UInt32BitsToSingle((uint)(ushort)bits << 16);

    /// <summary>Sign- or zero-extends the low <paramref name="bits"/> of v.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long SignExtend(ulong v, int bits) => bits >= 64 ? (long)v : (long)(v << (64 - bits)) >> (64 - bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ZeroExtend(ulong v, int bits) => bits >= 64 ? v : v & ((1UL << bits) - 1);

    public static double RoundInt(double d, byte rnd) => rnd switch
    {
        Rnd.Rni => Math.Round(d, MidpointRounding.ToEven),
        Rnd.Rzi => Math.Truncate(d),
        Rnd.Rmi => Math.Floor(d),
        Rnd.Rpi => Math.Ceiling(d),
        _ => d,
    };

    /// <summary>Float to integer: PTX saturates to the destination's range and maps NaN to 0.</summary>
    public static ulong FloatToInt(double d, byte rnd, PtxType dt)
    {
        if (double.IsNaN(d)) return 0;
        d = RoundInt(d, rnd);
        int bits = PtxDecoder.Bits(dt);
        if (PtxDecoder.IsSigned(dt))
        {
            double lo = -Math.Pow(2, bits - 1), hi = Math.Pow(2, bits - 1) - 1;
            long v = d <= lo ? (long)lo : d >= hi ? (bits == 64 ? long.MaxValue : (long)hi) : (long)d;
            return (ulong)v & (bits == 64 ? ulong.MaxValue : (1UL << bits) - 1);
        }
        else
        {
            double hi = Math.Pow(2, bits) - 1;
            if (d <= 0) return 0;
            if (d >= hi) return bits == 64 ? ulong.MaxValue : (ulong)hi;
            return (ulong)d;
        }
    }

    /// <summary>The general cvt: decodes the source into a long or a double, then encodes the destination.</summary>
    public static ulong Cvt(ulong a, PtxType dt, PtxType st, byte rnd, byte flags)
    {
        bool ftz = (flags & Fl.Ftz) != 0, sat = (flags & Fl.Sat) != 0;
        bool sFloat = st is PtxType.F16 or PtxType.Bf16 or PtxType.F32 or PtxType.F64;
        bool dFloat = dt is PtxType.F16 or PtxType.Bf16 or PtxType.F32 or PtxType.F64;
        if (!sFloat)
        {
            int sb = PtxDecoder.Bits(st);
            if (!dFloat) return CvtIntInt(a, dt, st, sat);
            // integer to float: the C# conversions round to nearest even
            bool signed = PtxDecoder.IsSigned(st);
            long sv = SignExtend(a, sb);
            ulong uv = ZeroExtend(a, sb);
            switch (dt)
            {
                case PtxType.F64: return Bits(signed ? (double)sv : (double)uv);
                case PtxType.F32:
                {
                    float f = signed ? (float)sv : (float)uv;
                    if (sat) f = Sat(f);
                    return Bits(f);
                }
                case PtxType.F16:
                {
                    // via double is exact for <= 53-bit integers; larger ones overflow f16 anyway
                    Half h = signed ? (Half)(double)sv : (Half)(double)uv;
                    if (sat) h = (Half)Sat((float)h);
                    return BitConverter.HalfToUInt16Bits(h);
                }
                default:
                {
                    float f = signed ? (float)sv : (float)uv;
                    return ToBf16(sat ? Sat(f) : f);
                }
            }
        }
        double d = st switch
        {
            PtxType.F16 => FromHalf(a),
            PtxType.Bf16 => FromBf16(a),
            PtxType.F32 => ftz ? Ftz(F(a)) : F(a),
            _ => D(a),
        };
        if (!dFloat) return FloatToInt(d, rnd, dt);
        if (rnd is Rnd.Rni or Rnd.Rzi or Rnd.Rmi or Rnd.Rpi) d = RoundInt(d, rnd);
        switch (dt)
        {
            case PtxType.F64:
                if (sat) d = double.IsNaN(d) ? 0 : Math.Clamp(d, 0, 1);
                return Bits(d);
            case PtxType.F32:
            {
                float f = (float)d; // f64 -> f32 rounds to nearest even; f16/bf16/f32 sources are exact
                if (ftz) f = Ftz(f);
                if (sat) f = Sat(f);
                return Bits(f);
            }
            case PtxType.F16:
            {
                // from f64: round once, directly (double -> Half is correctly rounded in .NET)
                Half h = st == PtxType.F64 ? (Half)d : (Half)(float)d;
                if (sat) h = (Half)Sat((float)h);
                return BitConverter.HalfToUInt16Bits(h);
            }
            default:
            {
                float f = (float)d;
                return ToBf16(sat ? Sat(f) : f);
            }
        }
    }

    public static ulong CvtIntInt(ulong a, PtxType dt, PtxType st, bool sat)
    {
        int sb = PtxDecoder.Bits(st), db = PtxDecoder.Bits(dt);
        bool ss = PtxDecoder.IsSigned(st), ds = PtxDecoder.IsSigned(dt);
        ulong dmask = db >= 64 ? ulong.MaxValue : (1UL << db) - 1;
        if (!sat) return (ss ? (ulong)SignExtend(a, sb) : ZeroExtend(a, sb)) & dmask;
        // .sat: clamp to the destination range
        Int128 v = ss ? SignExtend(a, sb) : (Int128)ZeroExtend(a, sb);
        Int128 lo = ds ? -((Int128)1 << (db - 1)) : 0;
        Int128 hi = ds ? ((Int128)1 << (db - 1)) - 1 : ((Int128)1 << db) - 1;
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        return (ulong)(long)v & dmask;
    }

    public static uint Prmt(uint a, uint b, uint c)
    {
        ulong src = ((ulong)b << 32) | a;
        uint r = 0;
        for (int i = 0; i < 4; i++)
        {
            uint sel = (c >> (4 * i)) & 0xF;
            uint by = (uint)(src >> (int)(8 * (sel & 7))) & 0xFF;
            if ((sel & 8) != 0) by = (by & 0x80) != 0 ? 0xFFu : 0u; // sign-replicate mode
            r |= by << (8 * i);
        }
        return r;
    }

    public static uint Lop3(uint a, uint b, uint c, uint lut)
    {
        uint r = 0;
        for (int bit = 0; bit < 8; bit++)
        {
            if (((lut >> bit) & 1) == 0) continue;
            // the LUT index is (a << 2 | b << 1 | c) with a = 0xF0, b = 0xCC, c = 0xAA
            uint ma = (bit & 4) != 0 ? a : ~a;
            uint mb = (bit & 2) != 0 ? b : ~b;
            uint mc = (bit & 1) != 0 ? c : ~c;
            r |= ma & mb & mc;
        }
        return r;
    }

    public static ulong Bfe(ulong a, uint pos, uint len, int w, bool signed)
    {
        pos &= 0xFF;
        len &= 0xFF;
        ulong mask = w >= 64 ? ulong.MaxValue : (1UL << w) - 1;
        if (len == 0) return 0;
        ulong shifted = pos >= (uint)w ? (signed ? (ulong)(SignExtend(a, w) >> 63) : 0) : (signed ? (ulong)(SignExtend(a, w) >> (int)pos) : ZeroExtend(a, w) >> (int)pos);
        if (len >= (uint)w) return shifted & mask;
        ulong field = shifted & ((1UL << (int)len) - 1);
        if (signed)
        {
            // sign bit: bit (pos+len-1) of a, or the msb of a when that is beyond the width
            uint sbit = Math.Min(pos + len - 1, (uint)w - 1);
            bool neg = ((a >> (int)sbit) & 1) != 0;
            if (neg) field |= ~((1UL << (int)len) - 1);
        }
        return field & mask;
    }

    public static ulong Bfi(ulong f, ulong b, uint pos, uint len, int w)
    {
        pos &= 0xFF;
        len &= 0xFF;
        ulong mask = w >= 64 ? ulong.MaxValue : (1UL << w) - 1;
        if (len == 0 || pos >= (uint)w) return b & mask;
        if (pos + len > (uint)w) len = (uint)w - pos;
        ulong fm = (len >= 64 ? ulong.MaxValue : (1UL << (int)len) - 1) << (int)pos;
        return ((b & ~fm) | ((f << (int)pos) & fm)) & mask;
    }

    public static uint Brev32(uint v)
    {
        uint r = 0;
        for (int i = 0; i < 32; i++) { r = (r << 1) | (v & 1); v >>= 1; }
        return r;
    }

    public static ulong Brev(ulong v, int w)
    {
        ulong r = 0;
        for (int i = 0; i < w; i++) { r = (r << 1) | (v & 1); v >>= 1; }
        return r;
    }

    public static int Clz(ulong v, int w) => w >= 64 ? BitOperations.LeadingZeroCount(v) : BitOperations.LeadingZeroCount(ZeroExtend(v, w)) - (64 - w);
}
