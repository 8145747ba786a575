namespace PiSa.Ptx;

/// <summary>Runs kernels of decoded modules on a <see cref="PtxMemory"/>.</summary>
public sealed class PtxExecutor
{
    public PtxMemory Memory { get; }

    public PtxExecutor(PtxMemory memory) => Memory = memory;

    /// <summary>
    /// Runs one launch to completion. args[i] holds the bytes of parameter i (length must equal Params[i].Size,
    /// else <see cref="PtxLaunchException"/>), as cuLaunchKernel's kernelParams.
    /// </summary>
    public PtxLaunchStats Launch(PtxKernel kernel, PtxDim3 grid, PtxDim3 block, int dynamicSharedBytes,
        IReadOnlyList<byte[]> args, PtxLaunchOptions options) => throw new NotImplementedException();
}
