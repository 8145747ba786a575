namespace PiSa.Engine.Backends;

/// <summary>
/// An activation tensor owned by a backend (host float32 for the CPU backend, device fp16 for CUDA).
/// Image activations are NHWC [N, H, W, C]; sequences are [B, L, C]. Model code never touches the
/// data, it only passes tensors between <see cref="IOps"/> calls and disposes what it no longer needs
/// (the CUDA backend returns the memory to its pool; the CPU backend lets the GC have it).
/// </summary>
public abstract class DeviceTensor : IDisposable
{
    public int[] Shape { get; }
    public long Count { get; }

    protected DeviceTensor(int[] shape)
    {
        Shape = (int[])shape.Clone();
        Count = Tensors.ShapeUtil.Product(shape);
    }

    public int Rank => Shape.Length;
    public int Dim(int i) => Shape[i < 0 ? Shape.Length + i : i];
    public abstract void Dispose();
    public override string ToString() => $"{GetType().Name}[{string.Join(", ", Shape)}]";
}

/// <summary>Zero padding of a 2-D convolution, per side (Downsample2D with padding 0 pads only bottom and right).</summary>
public readonly record struct Pad2d(int Top, int Bottom, int Left, int Right)
{
    public static Pad2d Same(int p) => new(p, p, p, p);
}
