namespace PiSa.Cuda;

/// <summary>Grid or block dimensions.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public static implicit operator Dim3(uint x) => new(x);
    public static implicit operator Dim3(int x) => new(checked((uint)x));

    /// <summary>Blocks needed to cover <paramref name="n"/> items with <paramref name="perBlock"/> each.</summary>
    public static uint Blocks(long n, long perBlock) => checked((uint)((n + perBlock - 1) / perBlock));

    public override string ToString() => $"({X},{Y},{Z})";
}
