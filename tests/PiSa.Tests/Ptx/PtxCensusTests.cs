using PiSa.Engine.Backends.Cuda;
using PiSa.Ptx;
using Xunit.Abstractions;

namespace PiSa.Tests.Ptx;

/// <summary>
/// The census: every instruction form NVRTC emits for every kernels/*.cu (compute_80, the product's default
/// options including -lineinfo) decodes, i.e. the interpreter implements it; the decoder refuses anything it does
/// not implement with a PtxParseException naming the line, so a new kernel cannot silently fall outside it.
/// </summary>
public class PtxCensusTests(ITestOutputHelper output)
{
    public static TheoryData<string> Files()
    {
        var d = new TheoryData<string>();
        foreach (var (name, _) in KernelSources.All()) d.Add(name);
        return d;
    }

    [PtxTheory]
    [MemberData(nameof(Files))]
    public void EveryFormOfTheKernelFileIsImplemented(string file)
    {
        string ptx = PtxCompile.Ptx(file, KernelSources.Get(file));
        PtxModule m;
        try { m = PtxModule.Parse(ptx, file); }
        catch (PtxParseException e) { Assert.Fail($"{file}: the interpreter does not implement: {e.Message}"); return; }
        Assert.NotEmpty(m.Kernels);
        Assert.NotEmpty(m.InstructionForms);
        // every .entry of the PTX is a kernel of the module
        int entries = ptx.Split('\n').Count(l => l.Contains(".entry "));
        Assert.Equal(entries, m.Kernels.Count);
        output.WriteLine($"{file}: {m.Kernels.Count} kernels, {m.InstructionForms.Count} forms: {string.Join(" ", m.InstructionForms.Order(StringComparer.Ordinal))}");
    }

    [PtxFact]
    public void TheCensusSeesTheCollectivesOfTodaysKernels()
    {
        var forms = KernelSources.All().SelectMany(f => PtxCompile.Module(f.Name, f.Source).InstructionForms).ToHashSet();
        Assert.Contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32", forms);
        Assert.Contains("bar.sync", forms);
        Assert.Contains("shfl.sync.bfly.b32", forms);
        Assert.Contains("ld.global.nc.v4.u32", forms);
        output.WriteLine($"{forms.Count} distinct forms over all kernel files");
    }

    [Fact]
    public void AFormTheInterpreterLacksIsRefusedWithItsLine()
    {
        const string ptx = """
            .version 7.8
            .target sm_80
            .address_size 64
            .visible .entry k(.param .u64 k_param_0)
            {
                .reg .b32 %r<3>;
                mov.u32 %r1, %tid.x;
                mul24.lo.u32 %r2, %r1, %r1;
                ret;
            }
            """;
        var e = Assert.Throws<PtxParseException>(() => PtxModule.Parse(ptx, "bad.ptx"));
        Assert.Equal(8, e.Line);
        Assert.Contains("mul24", e.Message);
    }

    [Fact]
    public void GetKernelNamesTheModuleAndItsKernels()
    {
        const string ptx = """
            .version 7.8
            .target sm_80
            .address_size 64
            .visible .entry only_one()
            {
                ret;
            }
            """;
        var m = PtxModule.Parse(ptx, "one.ptx");
        var e = Assert.Throws<PtxException>(() => m.GetKernel("other"));
        Assert.Contains("one.ptx", e.Message);
        Assert.Contains("only_one", e.Message);
    }
}
