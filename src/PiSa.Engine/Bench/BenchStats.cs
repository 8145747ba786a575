namespace PiSa.Engine.Bench;

/// <summary>Times of one stage over the measured runs, and the order statistics the report prints.</summary>
public sealed class BenchStats(string name, double[] runsMs)
{
    public string Name { get; } = name;
    public IReadOnlyList<double> RunsMs { get; } = runsMs;
    public double Min => Sorted[0];
    public double Max => Sorted[^1];
    public double Median => Sorted.Length % 2 == 1 ? Sorted[Sorted.Length / 2] : (Sorted[Sorted.Length / 2 - 1] + Sorted[Sorted.Length / 2]) / 2;
    /// <summary>Nearest-rank 90th percentile (the largest of up to 9 runs).</summary>
    public double P90 => Sorted[Math.Max(0, (int)Math.Ceiling(0.9 * Sorted.Length) - 1)];
    public double Spread => Max - Min;

    private double[] Sorted { get; } = runsMs.Length > 0 ? runsMs.Order().ToArray() : throw new ArgumentException("no runs");
}
