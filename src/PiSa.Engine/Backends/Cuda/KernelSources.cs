using System.Reflection;

namespace PiSa.Engine.Backends.Cuda;

/// <summary>
/// The CUDA C++ sources of kernels/*.cu, embedded in this assembly as manifest resources named
/// "kernels/&lt;file&gt;" (see PiSa.Engine.csproj), so the single-file native exe carries them.
/// </summary>
public static class KernelSources
{
    private const string Prefix = "kernels/";
    private static readonly Assembly Asm = typeof(KernelSources).Assembly;

    /// <summary>Every embedded kernel file as (file name such as "conv.cu", source text), sorted by name.</summary>
    public static IReadOnlyList<(string Name, string Source)> All()
    {
        var list = new List<(string, string)>();
        foreach (string res in Asm.GetManifestResourceNames())
            if (res.StartsWith(Prefix, StringComparison.Ordinal) && res.EndsWith(".cu", StringComparison.Ordinal))
                list.Add((res[Prefix.Length..], Read(res)));
        list.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return list;
    }

    /// <summary>The source of one file, e.g. Get("conv.cu").</summary>
    public static string Get(string file)
    {
        string res = Prefix + file;
        if (Asm.GetManifestResourceInfo(res) is null)
            throw new PisaException($"kernel source {file} is not embedded in {Asm.GetName().Name}");
        return Read(res);
    }

    private static string Read(string res)
    {
        using Stream s = Asm.GetManifestResourceStream(res)!;
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
