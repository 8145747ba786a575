namespace PiSa.Ptx;

/// <summary>Counters of one launch (or of several, aggregated with <see cref="Add"/>).</summary>
public sealed class PtxLaunchStats
{
    public int Launches { get; set; }
    public long IntegerInstructions { get; set; }
    public long Fp32Instructions { get; set; }
    public long ConversionInstructions { get; set; }
    public long MemoryInstructions { get; set; }
    public long ControlInstructions { get; set; }
    public long CollectiveInstructions { get; set; }
    public long TotalInstructions => IntegerInstructions + Fp32Instructions + ConversionInstructions +
                                     MemoryInstructions + ControlInstructions + CollectiveInstructions;
    /// <summary>mma.sync executions (per warp).</summary>
    public long MmaCount { get; set; }
    /// <summary>wgmma.mma_async operations completed (per warpgroup) and their floating-point operations (2 m n k each).</summary>
    public long WgmmaCount { get; set; }
    public long WgmmaFlops { get; set; }
    /// <summary>Warp-level global memory requests (one per warp-instruction).</summary>
    public long GlobalRequests { get; set; }
    /// <summary>Distinct 32-byte sectors those requests touched.</summary>
    public long GlobalSectors { get; set; }
    /// <summary>Warp-level shared memory requests.</summary>
    public long SharedRequests { get; set; }
    /// <summary>Shared memory wavefronts (1 per request without bank conflicts).</summary>
    public long SharedWavefronts { get; set; }
    public long GlobalBytesRead { get; set; }
    public long GlobalBytesWritten { get; set; }
    public long SharedBytesRead { get; set; }
    public long SharedBytesWritten { get; set; }
    public TimeSpan WallTime { get; set; }

    public double SectorsPerRequest => GlobalRequests == 0 ? 0 : (double)GlobalSectors / GlobalRequests;
    public double WavefrontsPerSharedRequest => SharedRequests == 0 ? 0 : (double)SharedWavefronts / SharedRequests;

    public void Add(PtxLaunchStats o)
    {
        Launches += o.Launches;
        IntegerInstructions += o.IntegerInstructions;
        Fp32Instructions += o.Fp32Instructions;
        ConversionInstructions += o.ConversionInstructions;
        MemoryInstructions += o.MemoryInstructions;
        ControlInstructions += o.ControlInstructions;
        CollectiveInstructions += o.CollectiveInstructions;
        MmaCount += o.MmaCount;
        WgmmaCount += o.WgmmaCount;
        WgmmaFlops += o.WgmmaFlops;
        GlobalRequests += o.GlobalRequests;
        GlobalSectors += o.GlobalSectors;
        SharedRequests += o.SharedRequests;
        SharedWavefronts += o.SharedWavefronts;
        GlobalBytesRead += o.GlobalBytesRead;
        GlobalBytesWritten += o.GlobalBytesWritten;
        SharedBytesRead += o.SharedBytesRead;
        SharedBytesWritten += o.SharedBytesWritten;
        WallTime += o.WallTime;
    }

    public override string ToString() =>
        $"{Launches} launch(es), {TotalInstructions:N0} thread-instructions (int {IntegerInstructions:N0}, fp32 {Fp32Instructions:N0}, " +
        $"cvt {ConversionInstructions:N0}, mem {MemoryInstructions:N0}, ctrl {ControlInstructions:N0}, coll {CollectiveInstructions:N0}), " +
        $"mma {MmaCount:N0}, wgmma {WgmmaCount:N0}, global {GlobalRequests:N0} req / {GlobalSectors:N0} sectors ({SectorsPerRequest:F2}/req), " +
        $"shared {SharedRequests:N0} req / {SharedWavefronts:N0} wavefronts ({WavefrontsPerSharedRequest:F2}/req), " +
        $"global read {GlobalBytesRead:N0} B, written {GlobalBytesWritten:N0} B, wall {WallTime.TotalMilliseconds:F1} ms";
}
