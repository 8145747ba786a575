using System.Runtime.InteropServices;
using PiSa.Engine.Backends.Cpu;
using PiSa.Ptx;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// cuBLASLt's contract for <see cref="IGpuRuntime.LinearF16"/>, computed on the CPU for the PTX interpreter runtime:
/// fp16 operands (exactly representable in fp32), fp32 accumulation (the CPU backend's GEMM), then in fp32
/// y = acc + bias (+ residual, cuBLASLt's beta = 1 on a copy of it) rounded once to fp16 (round to nearest even).
/// Row-major: x [rows, inF], w [outF, inF], y [rows, outF]; bias [outF] and residual [rows, outF] fp16 or absent (0).
/// </summary>
internal static class CpuLinearF16
{
    public static void Run(PtxMemory mem, ulong x, ulong w, ulong bias, ulong residual, ulong y, int rows, int inF, int outF)
    {
        if (rows < 0 || inF <= 0 || outF <= 0) throw new PisaException($"linear f16: bad shape rows {rows} in {inF} out {outF}");
        float[] xf = ReadHalfs(mem, x, checked(rows * inF));
        float[] wf = ReadHalfs(mem, w, checked(outF * inF));
        var acc = new float[checked(rows * outF)];
        CpuGemm.Run(rows, new DirectA(xf, 0, inF), PackedMatrix.FromLinearWeight(wf, outF, inF), acc, 0, outF);
        if (residual != 0)
        {
            float[] r = ReadHalfs(mem, residual, acc.Length);
            for (int i = 0; i < acc.Length; i++) acc[i] += r[i];
        }
        if (bias != 0)
        {
            float[] b = ReadHalfs(mem, bias, outF);
            for (int i = 0; i < acc.Length; i++) acc[i] += b[i % outF];
        }
        var outH = new Half[acc.Length];
        for (int i = 0; i < acc.Length; i++) outH[i] = (Half)acc[i];   // IEEE round to nearest even, overflow to inf
        mem.Write(y, MemoryMarshal.AsBytes(outH.AsSpan()));
    }

    private static float[] ReadHalfs(PtxMemory mem, ulong p, int n)
    {
        var h = new Half[n];
        mem.Read(p, MemoryMarshal.AsBytes(h.AsSpan()));
        var f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float)h[i];
        return f;
    }
}
