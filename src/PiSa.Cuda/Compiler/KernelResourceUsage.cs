using System.Globalization;
using System.Text.RegularExpressions;

namespace PiSa.Cuda;

/// <summary>What ptxas reported for one kernel (<c>--ptxas-options=-v</c>): registers, stack, spills, shared memory.</summary>
public sealed record KernelResourceUsage(string Function, int Registers, int StackBytes, int SpillStoreBytes, int SpillLoadBytes,
    int SharedBytes)
{
    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;

    public override string ToString() =>
        $"{Function}: {Registers} registers, {SharedBytes} B smem, {StackBytes} B stack, spill {SpillStoreBytes}/{SpillLoadBytes} B (store/load)";
}

/// <summary>Parses ptxas' verbose output, as NVRTC puts it in the program log.</summary>
public static partial class PtxasInfoParser
{
    // ptxas info    : Compiling entry function 'name' for 'sm_80'
    [GeneratedRegex(@"Compiling entry function '([^']+)'")]
    private static partial Regex EntryRegex();

    // ptxas info    : Function properties for name
    [GeneratedRegex(@"Function properties for (\S+)")]
    private static partial Regex PropsRegex();

    //     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex StackRegex();

    // ptxas info    : Used 10 registers, 4096 bytes smem, 368 bytes cmem[0]
    [GeneratedRegex(@"Used (\d+) registers(?:.*?(\d+) bytes smem)?")]
    private static partial Regex UsedRegex();

    /// <summary>One entry per kernel (entry function), in the order ptxas compiled them.</summary>
    public static IReadOnlyList<KernelResourceUsage> Parse(string log)
    {
        var order = new List<string>();
        var usage = new Dictionary<string, KernelResourceUsage>(StringComparer.Ordinal);
        string? entry = null;      // the entry function "Used N registers" refers to
        string? propsFor = null;   // the function the next stack/spill line refers to

        foreach (var raw in log.Split('\n'))
        {
            var line = raw.Trim();
            Match m;
            if ((m = EntryRegex().Match(line)).Success)
            {
                entry = m.Groups[1].Value;
                if (!usage.ContainsKey(entry))
                {
                    order.Add(entry);
                    usage[entry] = new KernelResourceUsage(entry, 0, 0, 0, 0, 0);
                }
            }
            else if ((m = PropsRegex().Match(line)).Success)
            {
                propsFor = m.Groups[1].Value;
            }
            else if ((m = StackRegex().Match(line)).Success)
            {
                // Properties of a non-entry (device) function are ignored: their cost shows in the caller.
                if (propsFor is not null && usage.TryGetValue(propsFor, out var u))
                    usage[propsFor] = u with { StackBytes = Int(m, 1), SpillStoreBytes = Int(m, 2), SpillLoadBytes = Int(m, 3) };
                propsFor = null;
            }
            else if ((m = UsedRegex().Match(line)).Success && entry is not null)
            {
                var u = usage[entry];
                usage[entry] = u with { Registers = Int(m, 1), SharedBytes = m.Groups[2].Success ? Int(m, 2) : 0 };
            }
        }
        return order.Select(n => usage[n]).ToList();
    }

    private static int Int(Match m, int g) => int.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
}
