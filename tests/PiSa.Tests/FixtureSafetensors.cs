using PiSa.Engine.Formats;
using PiSa.Engine.Tensors;

namespace PiSa.Tests;

/// <summary>
/// Fixture safetensors files read through the engine's own <see cref="SafetensorsFile"/> (whose format
/// handling has its own tests in Formats/): whole files as float tensors, and per-tensor reads that
/// assert the stored dtype, so a regenerated fixture with another dtype fails loudly.
/// </summary>
public static class FixtureSafetensors
{
    /// <summary>Every F32 tensor of a file in header order (I64 ones converted to float when asked; other dtypes skipped).</summary>
    public static Dictionary<string, HostTensor> ReadAllF32(string path, bool includeI64 = false)
    {
        using var file = SafetensorsFile.Open(path);
        var result = new Dictionary<string, HostTensor>();
        foreach (var e in file.Entries)
        {
            if (e.DType == SafetensorsDType.F32)
                result[e.Name] = file.ReadFloat(e.Name);
            else if (includeI64 && e.DType == SafetensorsDType.I64)
                result[e.Name] = new HostTensor(e.Shape, Array.ConvertAll(file.ReadInt64(e.Name), v => (float)v));
        }
        return result;
    }

    /// <summary>Names and shapes of every tensor, in header order.</summary>
    public static List<(string Name, int[] Shape)> Shapes(string path)
    {
        using var file = SafetensorsFile.Open(path);
        return file.Entries.Select(e => (e.Name, e.Shape)).ToList();
    }

    public static int[] Shape(this SafetensorsFile file, string name) => file.GetEntry(name).Shape;

    public static float[] F32(this SafetensorsFile file, string name)
    {
        Assert.Equal(SafetensorsDType.F32, file.GetEntry(name).DType);
        return file.ReadFloat(name).Data;
    }

    public static byte[] U8(this SafetensorsFile file, string name)
    {
        Assert.Equal(SafetensorsDType.U8, file.GetEntry(name).DType);
        return file.GetBytes(name).ToArray();
    }

    public static long[] I64(this SafetensorsFile file, string name)
    {
        Assert.Equal(SafetensorsDType.I64, file.GetEntry(name).DType);
        return file.ReadInt64(name);
    }
}
