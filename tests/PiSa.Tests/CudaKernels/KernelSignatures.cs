using System.Text.RegularExpressions;
using PiSa.Engine.Backends.Cuda;

namespace PiSa.Tests.CudaKernels;

/// <summary>Parses `extern "C" __global__ void name(...)` signatures out of the embedded kernel sources
/// into argument kinds (P pointer, I int, F float), the letters <see cref="KernelArgs.Kinds"/> uses.</summary>
internal static partial class KernelSignatures
{
    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(([^)]*)\)", RegexOptions.Singleline)]
    private static partial Regex Sig();

    public static Dictionary<string, (string File, string Kinds)> All()
    {
        var map = new Dictionary<string, (string, string)>();
        foreach (var (file, src) in KernelSources.All())
            foreach (Match m in Sig().Matches(src))
            {
                // kernels between "#ifdef PISA_WGMMA" and its "#endif" exist only in the wgmma variant of the file
                int open = src.LastIndexOf("#ifdef PISA_WGMMA", m.Index, StringComparison.Ordinal);
                bool wgmma = open >= 0 && src.IndexOf("#endif", open, StringComparison.Ordinal) > m.Index;
                string module = wgmma ? $"{file}+{KernelModule.WgmmaVariant}" : file;
                var kinds = new System.Text.StringBuilder();
                foreach (string raw in m.Groups[2].Value.Split(','))
                {
                    string p = Regex.Replace(raw, @"/\*.*?\*/", " ").Trim();
                    if (p.Length == 0) continue;
                    if (p.Contains('*')) kinds.Append('P');
                    else if (Regex.IsMatch(p, @"^(const\s+)?int\s")) kinds.Append('I');
                    else if (Regex.IsMatch(p, @"^(const\s+)?float\s")) kinds.Append('F');
                    else throw new InvalidOperationException($"{file}: unsupported kernel parameter '{p}' in {m.Groups[1].Value}");
                }
                map.Add(m.Groups[1].Value, (module, kinds.ToString()));
            }
        return map;
    }
}
