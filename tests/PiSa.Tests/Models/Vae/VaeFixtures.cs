using PiSa.Engine.Backends;
using PiSa.Engine.Formats;
using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Models.Vae;

/// <summary>Fixture access for the VAE tests: cached F32 fixture tensors (read by the engine's reader), the tiny VAE config (product parser), fixture tensors in NHWC.</summary>
public static class VaeFixtures
{
    private static readonly Dictionary<string, Dictionary<string, HostTensor>> Cache = new();

    /// <summary>All F32 tensors of a safetensors file (other dtypes skipped), cached per path.</summary>
    public static Dictionary<string, HostTensor> ReadF32(string path)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(path, out var hit)) return hit;
            var result = FixtureSafetensors.ReadAllF32(path);
            Cache[path] = result;
            return result;
        }
    }

    public static string VaeDir => Path.Combine(FixturePaths.Tiny, "sd", "vae");

    public static IWeightSource TinyVaeWeights() =>
        new DictionaryWeightSource(ReadF32(Path.Combine(VaeDir, "diffusion_pytorch_model.safetensors")), "tiny vae");

    public static Dictionary<string, HostTensor> Modules() => ReadF32(Path.Combine(FixturePaths.Tiny, "modules.safetensors"));

    public static Dictionary<string, HostTensor> Case(string name) =>
        ReadF32(Path.Combine(FixturePaths.Tiny, "expected", $"case_{name}.safetensors"));

    /// <summary>The tiny VAE's config.json, through the engine's diffusers config parser.</summary>
    public static VaeConfig TinyVaeConfig() => DiffusersConfig.LoadVae(Path.Combine(VaeDir, "config.json"));

    public static HostTensor NhwcOf(Dictionary<string, HostTensor> set, string name) => Layout.NchwToNhwc(set[name]);

    public static HostTensor Map(HostTensor t, Func<float, float> f)
    {
        var r = t.Clone();
        for (int i = 0; i < r.Data.Length; i++) r.Data[i] = f(r.Data[i]);
        return r;
    }

    public static HostTensor Run(IOps ops, HostTensor input, Func<DeviceTensor, DeviceTensor> f)
    {
        using var x = ops.Upload(input);
        using var y = f(x);
        return ops.Download(y);
    }
}
