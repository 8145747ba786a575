using PiSa.Cuda;

namespace PiSa.Tests.Cuda;

public class PtxasInfoParserTests
{
    [Fact]
    public void Parses_RegistersSharedAndSpills_PerEntry_IgnoringDeviceFunctions()
    {
        const string log = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Function properties for helper_fn
                8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
            ptxas info    : Compiling entry function 'conv_kernel' for 'sm_80'
            ptxas info    : Function properties for conv_kernel
                16 bytes stack frame, 12 bytes spill stores, 8 bytes spill loads
            ptxas info    : Used 255 registers, 49152 bytes smem, 392 bytes cmem[0]
            ptxas info    : Compiling entry function 'small' for 'sm_80'
            ptxas info    : Function properties for small
                0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 12 registers, 368 bytes cmem[0]
            """;
        var u = PtxasInfoParser.Parse(log);
        Assert.Equal(2, u.Count);
        Assert.Equal(new KernelResourceUsage("conv_kernel", 255, 16, 12, 8, 49152), u[0]);
        Assert.True(u[0].Spills);
        Assert.Equal(new KernelResourceUsage("small", 12, 0, 0, 0, 0), u[1]);
        Assert.False(u[1].Spills);
    }

    [Fact]
    public void EmptyLog_GivesNoEntries() => Assert.Empty(PtxasInfoParser.Parse(""));
}
