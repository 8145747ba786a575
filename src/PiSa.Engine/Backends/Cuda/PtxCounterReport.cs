using System.Globalization;
using System.Text;
using PiSa.Ptx;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// The interpreter's counters per kernel as a table (selftest and profile on --device ptx): launches, thread-instructions
/// and their mix, mma.sync and wgmma counts, coalescing (32-byte sectors per global request; 4 is ideal for 4-byte lanes, 16 for 16-byte),
/// bank conflicts (shared wavefronts per request; 1 is conflict-free), bytes moved, and the interpreter's own time and rate.
/// These are a model of where GPU time goes, not GPU times.
/// </summary>
public static class PtxCounterReport
{
    public static string Format(IReadOnlyDictionary<string, PtxLaunchStats> tallies)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(string.Format(inv, "{0,-24} {1,8} {2,12} {3,26} {4,10} {5,8} {6,8} {7,10} {8,10} {9,8} {10,8}",
            "kernel", "launches", "Minstr", "int/fp32/cvt/mem/ctl/coll %", "mma/wgmma", "sect/req", "wave/req", "MB read", "MB write", "wall s", "Minstr/s"));
        PtxLaunchStats? all = null;
        foreach (var (name, s) in tallies.OrderByDescending(kv => kv.Value.TotalInstructions))
        {
            Row(sb, name, s);
            if (all is null) { all = new PtxLaunchStats(); }
            all.Add(s);
        }
        if (all is not null) Row(sb, "total", all);
        return sb.ToString();
    }

    private static void Row(StringBuilder sb, string name, PtxLaunchStats s)
    {
        var inv = CultureInfo.InvariantCulture;
        double t = Math.Max(1, s.TotalInstructions);
        string mix = string.Join("/", new[] { s.IntegerInstructions, s.Fp32Instructions, s.ConversionInstructions, s.MemoryInstructions, s.ControlInstructions, s.CollectiveInstructions }
            .Select(v => (100.0 * v / t).ToString("F0", inv)));
        double wall = s.WallTime.TotalSeconds;
        sb.AppendLine(string.Format(inv, "{0,-24} {1,8} {2,12:F2} {3,26} {4,10} {5,8:F2} {6,8:F2} {7,10:F2} {8,10:F2} {9,8:F2} {10,8:F1}",
            name, s.Launches, s.TotalInstructions / 1e6, mix, $"{s.MmaCount}/{s.WgmmaCount}", s.SectorsPerRequest, s.WavefrontsPerSharedRequest,
            s.GlobalBytesRead / 1e6, s.GlobalBytesWritten / 1e6, wall, wall > 0 ? s.TotalInstructions / 1e6 / wall : 0));
    }
}
