using PiSa.Cuda;

namespace PiSa.Tests.Cuda;

public class KernelCompilerTests
{
    private static readonly byte[] ElfMagic = [0x7f, (byte)'E', (byte)'L', (byte)'F'];

    [NvrtcFact]
    public void MmaKernel_CompilesToCubin_ForSm80AndSm90_WithoutSpills()
    {
        var compiler = new KernelCompiler(cacheDirectory: null);
        foreach (var arch in new[] { "sm_80", "sm_90" })
        {
            var m = compiler.Compile("mma_test", TestKernels.Mma, arch);
            Assert.True(m.IsCubin);
            Assert.Equal(ElfMagic, m.Image.AsSpan(0, 4).ToArray());
            Assert.Equal(CacheOutcome.Disabled, m.Cache);
            var usage = Assert.Single(m.Usage);
            Assert.Equal("mma_16x8x16", usage.Function);
            Assert.InRange(usage.Registers, 1, 255);
            Assert.False(usage.Spills, $"{arch}: {usage}");
            Assert.Contains($"for '{arch}'", m.Log);
        }
    }

    [NvrtcFact]
    public void ComputeTarget_GivesPtx_WithTheInlineInstructions()
    {
        var m = new KernelCompiler(null).Compile("mma_test", TestKernels.Mma, "compute_80");
        Assert.False(m.IsCubin);
        Assert.Equal(0, m.Image[^1]); // NUL-terminated for cuModuleLoadData
        Assert.Contains(".target sm_80", m.Ptx);
        Assert.Contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32", m.Ptx);
        Assert.Contains("cvt.rn.f16.f32", m.Ptx);
        Assert.Contains(".entry mma_16x8x16", m.Ptx);
        Assert.Empty(m.Usage);
    }

    [NvrtcFact]
    public void SyntaxError_ThrowsCompileException_WithLog()
    {
        var e = Assert.Throws<CompileException>(() => new KernelCompiler(null).Compile("broken_kernel", TestKernels.Broken, "sm_80"));
        Assert.Equal("broken_kernel", e.KernelName);
        Assert.Equal("sm_80", e.Arch);
        Assert.Contains("undeclared_thing", e.Log);
        Assert.Contains("broken_kernel.cu(2)", e.Log);
        Assert.Contains("undeclared_thing", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [NvrtcFact]
    public void InvalidInlinePtx_IsRejectedForCubinTargets()
    {
        var e = Assert.Throws<CompileException>(() => new KernelCompiler(null).Compile("bad_ptx", TestKernels.BadInlinePtx, "sm_80"));
        Assert.Contains("ptxas", e.Log);
        Assert.Contains("Unknown modifier '.real'", e.Log);
        Assert.Contains("Unknown modifier", e.Message);
        Assert.DoesNotContain('\0', e.Log);
    }

    [NvrtcFact]
    public void Options_AreForwarded_ExtraDefineChangesTheOutput()
    {
        const string src = """
            #ifndef SCALE
            #error SCALE must be defined
            #endif
            extern "C" __global__ void scale(float* y) { y[threadIdx.x] *= SCALE; }
            """;
        var compiler = new KernelCompiler(null);
        Assert.Throws<CompileException>(() => compiler.Compile("scale", src, "compute_80"));
        var m = compiler.Compile("scale", src, "compute_80", new KernelCompileOptions { Extra = ["-DSCALE=3.5f"] });
        Assert.Contains("0f40600000", m.Ptx); // 3.5f as PTX hex float
    }

    [Fact]
    public void BuildOptions_HaveArchDialectAndVerbosePtxasOnlyForCubin()
    {
        var cubin = KernelCompiler.BuildOptions("sm_90", new KernelCompileOptions { FastMath = true, Extra = ["-DX=1"] });
        Assert.Equal(["--gpu-architecture=sm_90", "-std=c++17", "--use_fast_math", "-lineinfo", "--ptxas-options=-v", "-DX=1"], cubin);
        var ptx = KernelCompiler.BuildOptions("compute_80");
        Assert.Equal(["--gpu-architecture=compute_80", "-std=c++17", "-lineinfo"], ptx);
        Assert.Throws<ArgumentException>(() => KernelCompiler.BuildOptions("80"));
    }

    [NvrtcFact]
    public void CompileAll_ReportsEachKernel_InOrder_WithoutThrowing()
    {
        var results = new KernelCompiler(null).CompileAll(
            [("axpy", TestKernels.Axpy), ("broken", TestKernels.Broken), ("mma", TestKernels.Mma)], "sm_80");
        Assert.Equal(["axpy", "broken", "mma"], results.Select(r => r.Name));
        Assert.True(results[0].Ok);
        Assert.False(results[1].Ok);
        Assert.Contains("undeclared_thing", results[1].Error);
        Assert.True(results[2].Ok);
        Assert.Equal("axpy", Assert.Single(results[0].Module!.Usage).Function);
    }

    [NvrtcFact]
    public void NvrtcVersion_IsKnown_AndSupportsAmpereAndHopper()
    {
        var (major, minor) = KernelCompiler.NvrtcVersion;
        Assert.True(major >= 11, $"{major}.{minor}");
        var archs = KernelCompiler.SupportedArchs();
        Assert.Contains(80, archs);
        Assert.Contains(90, archs);
        Assert.NotNull(KernelCompiler.NvrtcPath);
    }
}
