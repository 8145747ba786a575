using PiSa.Engine.Tensors;

namespace PiSa.Engine.Lora;

/// <summary>Which of PiSA-SR's two LoRAs: pixel-level or semantic-level.</summary>
public enum LoraKind { Pix, Sem }

/// <summary>Which module list of the checkpoint (peft adapter default_{encoder|decoder|others}_{pix|sem}).</summary>
public enum LoraGroup { Encoder, Decoder, Others }

/// <summary>
/// One peft LoRA adapter on one UNet module: <c>A</c> is [r, in] (Linear) or [r, in, kh, kw] (Conv2d),
/// <c>B</c> is [out, r] or [out, r, 1, 1]; the module's weight moves by <c>scaling * B @ A</c>.
/// </summary>
public sealed record LoraAdapter(string Module, LoraKind Kind, LoraGroup Group, HostTensor A, HostTensor B, float Scaling)
{
    /// <summary>peft's adapter name, e.g. default_encoder_pix.</summary>
    public string AdapterName => AdapterNameOf(Group, Kind);
    public int Rank => A.Dim(0);
    public string WeightName => Module + ".weight";

    public static string AdapterNameOf(LoraGroup group, LoraKind kind) =>
        $"default_{group.ToString().ToLowerInvariant()}_{kind.ToString().ToLowerInvariant()}";

    public static string TensorNameA(string module, LoraGroup group, LoraKind kind) => $"{module}.lora_A.{AdapterNameOf(group, kind)}.weight";
    public static string TensorNameB(string module, LoraGroup group, LoraKind kind) => $"{module}.lora_B.{AdapterNameOf(group, kind)}.weight";

    /// <summary>
    /// Checks A and B against each other and against the base weight shape; a one-line error names the
    /// module, the adapter and the shapes.
    /// </summary>
    public void CheckShapes(ReadOnlySpan<int> weightShape)
    {
        string where = $"LoRA '{Module}' ({AdapterName})";
        if (A.Rank is not (2 or 4) || B.Rank != A.Rank)
            throw new PisaException($"{where}: A [{ShapeUtil.Format(A.Shape)}] and B [{ShapeUtil.Format(B.Shape)}] are not a Linear or Conv2d pair");
        if (B.Dim(1) != A.Dim(0) || (B.Rank == 4 && (B.Dim(2) != 1 || B.Dim(3) != 1)))
            throw new PisaException($"{where}: B [{ShapeUtil.Format(B.Shape)}] does not match A [{ShapeUtil.Format(A.Shape)}] (rank {A.Dim(0)})");
        if (weightShape.Length != A.Rank || weightShape[0] != B.Dim(0) || !weightShape[1..].SequenceEqual(A.Shape.AsSpan(1)))
            throw new PisaException($"{where}: A [{ShapeUtil.Format(A.Shape)}] / B [{ShapeUtil.Format(B.Shape)}] do not fit the UNet weight '{WeightName}' [{ShapeUtil.Format(weightShape)}]");
    }

    /// <summary>
    /// dW = scaling * B @ A in the module weight's layout: for a conv, dW[o,i,y,x] = scaling * sum_r B[o,r] A[r,i,y,x]
    /// (a 1x1 conv and a Linear are the same product with a trailing 1x1 or nothing).
    /// </summary>
    public float[] ComputeDelta()
    {
        int r = A.Dim(0), outDim = B.Dim(0);
        int k = (int)(A.Count / r);
        float[] a = A.Data, b = B.Data;
        var d = new float[(long)outDim * k];
        var acc = new float[k];
        for (int o = 0; o < outDim; o++)
        {
            Array.Clear(acc);
            for (int j = 0; j < r; j++)
            {
                float bo = b[o * r + j];
                int aRow = j * k;
                for (int x = 0; x < k; x++) acc[x] += bo * a[aRow + x];
            }
            // (B @ A) first, then the scale: the order peft's get_delta_weight uses.
            int row = o * k;
            for (int x = 0; x < k; x++) d[row + x] = acc[x] * Scaling;
        }
        return d;
    }
}
