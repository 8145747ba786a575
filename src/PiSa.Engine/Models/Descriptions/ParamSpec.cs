namespace PiSa.Engine.Models.Descriptions;

/// <summary>
/// One tensor a diffusers/transformers module creates: its state-dict name and shape (PyTorch order,
/// e.g. conv weights [out, in, kh, kw], linear weights [out, in]). <see cref="IsBuffer"/> marks
/// persistent buffers (CLIP's position_ids) that weight files may or may not carry.
/// </summary>
public sealed record ParamSpec(string Name, int[] Shape, bool IsBuffer = false)
{
    public override string ToString() => $"{Name} [{string.Join(",", Shape)}]{(IsBuffer ? " (buffer)" : "")}";
}
