namespace PiSa.Engine.Tensors;

/// <summary>
/// Float copies that <see cref="HostTensor.ReleaseData"/> lets go of are large-object-heap garbage, gigabytes of it
/// while a backend packs a model (each weight's packed copy is allocated right after its float copy is released).
/// The collector runs on its own budget, not ours, so without help those arrays stay mapped beside the packed ones
/// and the peak holds the weights twice after all. Every <see cref="CollectEveryBytes"/> released, a full blocking
/// collection frees them (cheap: weight arrays hold no references to trace), and later packs reuse the space.
/// </summary>
public static class ReleasedWeightMemory
{
    /// <summary>About 4 % of SD 2.1's float32 UNet: some thirty collections while it is packed (measured at 256 MB:
    /// released copies and the packer's own temporaries waiting for a collection added ~0.4 GB to the peak).</summary>
    public const long CollectEveryBytes = 128L << 20;

    private static long _pending;
    private static long _total;

    /// <summary>Bytes released since this process started (all tensors).</summary>
    public static long TotalReleasedBytes => Interlocked.Read(ref _total);

    internal static void Released(long bytes)
    {
        if (bytes <= 0) return;
        Interlocked.Add(ref _total, bytes);
        if (Interlocked.Add(ref _pending, bytes) < CollectEveryBytes) return;
        Interlocked.Exchange(ref _pending, 0);
        GC.Collect();
    }
}
