using System.Text.Json;
using PiSa.Engine.Backends;
using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Models.Vae;

/// <summary>Fixture access for the VAE tests: cached F32 fixture tensors (read by the engine's reader), the tiny VAE config, fixture tensors in NHWC.</summary>
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

    /// <summary>The tiny VAE's config.json read by hand (the engine's config parser is another helper's work).</summary>
    public static VaeConfig TinyVaeConfig() => ReadVaeConfig(Path.Combine(VaeDir, "config.json"));

    public static VaeConfig ReadVaeConfig(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var r = doc.RootElement;
        int[] Ints(string k) => r.GetProperty(k).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        string[] Strs(string k) => r.GetProperty(k).EnumerateArray().Select(e => e.GetString()!).ToArray();
        return new VaeConfig
        {
            InChannels = r.GetProperty("in_channels").GetInt32(),
            OutChannels = r.GetProperty("out_channels").GetInt32(),
            BlockOutChannels = Ints("block_out_channels"),
            DownBlockTypes = Strs("down_block_types"),
            UpBlockTypes = Strs("up_block_types"),
            LayersPerBlock = r.GetProperty("layers_per_block").GetInt32(),
            LatentChannels = r.GetProperty("latent_channels").GetInt32(),
            NormNumGroups = r.GetProperty("norm_num_groups").GetInt32(),
            ScalingFactor = r.TryGetProperty("scaling_factor", out var sf) ? sf.GetSingle() : 0.18215f,
        };
    }

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
