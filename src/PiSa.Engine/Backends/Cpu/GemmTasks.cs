namespace PiSa.Engine.Backends.Cpu;

/// <summary>
/// How a blocked CPU GEMM (<see cref="CpuGemm"/>, <see cref="Bf16.Bf16Gemm"/>) splits its work into parallel tasks:
/// blocks of <see cref="BlockRows"/> rows of M, times chunks of B's column panels, the panels halved until there
/// are about four tasks per core (so a short M still spreads over the cores). Each task writes its own C tile.
/// </summary>
internal readonly record struct GemmTasks(int M, int BlockRows, int Panels, int PanelChunks)
{
    public static GemmTasks For(int m, int blockRows, int panels)
    {
        int mBlocks = (m + blockRows - 1) / blockRows;
        int chunks = 1;
        int want = 4 * Environment.ProcessorCount;
        while (mBlocks * chunks < want && chunks * 2 <= panels) chunks *= 2;
        return new GemmTasks(m, blockRows, panels, chunks);
    }

    public int Count => (M + BlockRows - 1) / BlockRows * PanelChunks;

    /// <summary>Task t's first row and row count, and its panels [P0, P1).</summary>
    public (int M0, int Rows, int P0, int P1) Range(int t)
    {
        int mb = t / PanelChunks, nc = t % PanelChunks;
        int m0 = mb * BlockRows;
        return (m0, Math.Min(BlockRows, M - m0),
                (int)((long)nc * Panels / PanelChunks), (int)((long)(nc + 1) * Panels / PanelChunks));
    }
}
