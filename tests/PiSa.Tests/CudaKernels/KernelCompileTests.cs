using System.Text.RegularExpressions;
using PiSa.Engine.Backends.Cuda;
using Xunit.Abstractions;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// Compiles every embedded kernels/*.cu with NVRTC for sm_80 and sm_90 (real targets, so NVRTC's ptxas
/// checks the inline PTX: mma.sync, cvt) and asserts success, and zero spill bytes for the hot kernels.
/// Without NVRTC (no CUDA_LIB_DIRS, no libnvrtc) the test reports itself skipped in its output and
/// passes: xunit 2 has no runtime skip.
/// </summary>
public class KernelCompileTests(ITestOutputHelper output)
{
    private static readonly string[] Hot = ["conv2d_igemm_f16", "attention_f16", "gn_partial_stats", "gn_apply", "layernorm_f16"];

    [Fact]
    public void EmbeddedSourcesAreAllTheKernelFiles()
    {
        var embedded = KernelSources.All().Select(s => s.Name).ToArray();
        var onDisk = Directory.GetFiles(FixturePaths.Kernels, "*.cu").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(onDisk, embedded);
        Assert.Contains("conv.cu", embedded);
        Assert.Equal(File.ReadAllText(Path.Combine(FixturePaths.Kernels, "norm.cu")), KernelSources.Get("norm.cu"));
    }

    /// <summary>One case per (file, arch) so each stays a few seconds on a loaded 2-core machine.</summary>
    public static TheoryData<string, string> FilesAndArchs()
    {
        var data = new TheoryData<string, string>();
        foreach (var (file, _) in KernelSources.All())
            foreach (string arch in new[] { "sm_80", "sm_90" }) data.Add(file, arch);
        return data;
    }

    [Theory]
    [MemberData(nameof(FilesAndArchs))]
    public void KernelFileCompilesWithoutSpills(string file, string arch)
    {
        if (!TestNvrtc.Available)
        {
            output.WriteLine("SKIPPED: NVRTC not found (set CUDA_LIB_DIRS, e.g. via fetch-nvrtc.sh)");
            return;
        }
        output.WriteLine($"NVRTC: {TestNvrtc.Where}");
        int functions = 0;
        string src = KernelSources.Get(file);
        {
            var (rc, log) = TestNvrtc.Compile(src, file, arch);
            Assert.True(rc == 0, $"{file} for {arch} failed (nvrtc {rc}):\n{log}");
            // ptxas -v: "Compiling entry function 'name' for 'sm_80'" ... "N bytes stack frame, S bytes spill stores, L bytes spill loads"
            foreach (Match m in Regex.Matches(log, @"Compiling entry function '(\w+)'.*?(\d+) bytes spill stores, (\d+) bytes spill loads", RegexOptions.Singleline))
            {
                functions++;
                string fn = m.Groups[1].Value;
                int st = int.Parse(m.Groups[2].Value), ld = int.Parse(m.Groups[3].Value);
                output.WriteLine($"{file} {arch} {fn}: spill stores {st}, loads {ld}");
                if (Hot.Contains(fn)) Assert.True(st == 0 && ld == 0, $"{fn} spills on {arch}: {st} stores, {ld} loads");
            }
        }
        int declared = KernelSignatures.All().Values.Count(v => v.File == file);
        Assert.True(functions >= declared, $"ptxas reported {functions} functions for {file}, which declares {declared} kernels");
    }
}
