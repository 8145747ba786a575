namespace PiSa.Engine.Bench.Kernels;

/// <summary>
/// Every kernel family `pisa kernels` knows, in the order it runs them. A family is one folder of bench/kernels/
/// (its versions, its cases, its README); add a family by adding its instance here (see bench/kernels/README.md).
/// </summary>
public static class KernelFamilies
{
    public static IReadOnlyList<IKernelFamily> All { get; } =
    [
        GroupNormFamily.Instance,
        AttentionFamily.Narrow,
        AttentionFamily.Wide,
        ConvFamily.Instance,
        FusionFamily.Instance,
    ];

    public static IKernelFamily? Find(string name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));
}
