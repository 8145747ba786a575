using PiSa.Cuda;

namespace PiSa.Tests.Cuda;

public unsafe class KernelArgsTests
{
    [Fact]
    public void PointersPointAtCopiesOfTheValues_AlignedAndInOrder()
    {
        using var a = new KernelArgs();
        a.Add(0xdead_beef_0000_1234UL).Add(42).Add(1.5f).Add((short)-3);
        Assert.Equal(4, a.Count);
        void** p = a.Pointers;
        Assert.Equal(0xdead_beef_0000_1234UL, *(ulong*)p[0]);
        Assert.Equal(42, *(int*)p[1]);
        Assert.Equal(1.5f, *(float*)p[2]);
        Assert.Equal((short)-3, *(short*)p[3]);
        for (int i = 0; i < 4; i++)
            Assert.Equal(0, (long)p[i] % 8);

        a.Clear().Add(7);
        Assert.Equal(1, a.Count);
        Assert.Equal(7, *(int*)a.Pointers[0]);
    }

    [Fact]
    public void TooManyArgs_Throw()
    {
        using var a = new KernelArgs();
        for (int i = 0; i < KernelArgs.MaxArgs; i++)
            a.Add(i);
        Assert.Throws<InvalidOperationException>(() => a.Add(0));
    }

    [Fact]
    public void Dim3_Blocks_RoundsUp()
    {
        Assert.Equal(4u, Dim3.Blocks(1000, 256));
        Assert.Equal(1u, Dim3.Blocks(1, 256));
        Dim3 d = 5;
        Assert.Equal(new Dim3(5, 1, 1), d);
    }
}
