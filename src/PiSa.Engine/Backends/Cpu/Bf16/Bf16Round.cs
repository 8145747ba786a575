using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace PiSa.Engine.Backends.Cpu.Bf16;

/// <summary>
/// float32 to bfloat16 with round-to-nearest-even (what vcvtne2ps2bf16 and PyTorch do), NaN kept quiet.
/// A bf16 is the top 16 bits of a float32; adding 0x7FFF plus the lowest kept bit before truncating rounds ties
/// to even, and lets a value past the largest finite bf16 round up to infinity, as the hardware does.
/// </summary>
internal static class Bf16Round
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Round(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((bits >> 16) | 0x0040);  // NaN: quiet, sign kept
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>The float32 value of a bf16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    /// <summary>16 floats to 8 dwords, dword q = bf16(x[2q]) | bf16(x[2q+1]) &lt;&lt; 16: the pair layout vdpbf16ps reads.
    /// 256-bit on purpose: the NativeAOT build targets x86-64-v3, where Vector512 is not accelerated.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> Pairs(Vector256<float> lo, Vector256<float> hi)
        => Vector256.Narrow(Round8(lo), Round8(hi)).AsUInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Round8(Vector256<float> x)
    {
        var bits = x.AsUInt32();
        var rounded = (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;
        var nan = Vector256.GreaterThan(bits & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        return Vector256.ConditionalSelect(nan, (bits >> 16) | Vector256.Create(0x0040u), rounded);
    }
}
