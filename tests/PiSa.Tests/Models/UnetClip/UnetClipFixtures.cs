using PiSa.Engine.Backends;
using PiSa.Engine.Formats;
using PiSa.Engine.Models;
using PiSa.Engine.Tensors;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>
/// Test-side access to the pisa-tiny fixtures for the UNet/CLIP tests: cached fixture tensors (F32, I64 as float),
/// the configs (product parser), NCHW <-> NHWC conversion and the relative-L2 comparison.
/// </summary>
public static class UnetClipFixtures
{
    public static string Modules => Path.Combine(FixturePaths.Tiny, "modules.safetensors");
    public static string TextFile => Path.Combine(FixturePaths.Tiny, "text.safetensors");
    public static string UnetDir => Path.Combine(FixturePaths.Tiny, "sd", "unet");
    public static string TextEncoderDir => Path.Combine(FixturePaths.Tiny, "sd", "text_encoder");

    private static readonly Dictionary<string, Dictionary<string, HostTensor>> Cache = new();

    /// <summary>All tensors of a safetensors file as float32 (I64 converted), cached per path.</summary>
    public static Dictionary<string, HostTensor> Load(string path)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(path, out var hit)) return hit;
            var result = FixtureSafetensors.ReadAllF32(path, includeI64: true);
            Cache[path] = result;
            return result;
        }
    }

    private static readonly Lazy<SafetensorsWeightSource> UnetSource =
        new(() => SafetensorsWeightSource.Open(Path.Combine(UnetDir, "diffusion_pytorch_model.safetensors")));
    private static readonly Lazy<SafetensorsWeightSource> TextSource =
        new(() => SafetensorsWeightSource.Open(Path.Combine(TextEncoderDir, "model.safetensors")));

    /// <summary>The tiny base UNet through the product's safetensors reader (one shared source: same tensor objects).</summary>
    public static IWeightSource UnetWeights() => UnetSource.Value;
    public static IWeightSource TextWeights() => TextSource.Value;

    public static HostTensor Module(string name) =>
        Load(Modules).TryGetValue(name, out var t) ? t : throw new KeyNotFoundException("fixture tensor " + name);

    public static UNetConfig UnetConfig() => DiffusersConfig.LoadUNet(Path.Combine(UnetDir, "config.json"));
    public static ClipTextConfig ClipConfig() => DiffusersConfig.LoadClipText(Path.Combine(TextEncoderDir, "config.json"));

    /// <summary>NCHW -> NHWC (other ranks unchanged).</summary>
    public static HostTensor ToNhwc(HostTensor t) => t.Rank == 4 ? Layout.NchwToNhwc(t) : t;

    public static DeviceTensor UploadNhwc(IOps ops, string name) => ops.Upload(ToNhwc(Module(name)));

    /// <summary>||actual - expected|| / ||expected|| after converting the expected NCHW tensor to NHWC; shapes must agree.</summary>
    public static double RelL2(HostTensor expectedNchw, HostTensor actual) => Metrics.RelativeL2(actual, ToNhwc(expectedNchw));

    public static void AssertClose(HostTensor expectedNchw, HostTensor actual, double tol = 1e-4)
    {
        double r = RelL2(expectedNchw, actual);
        Assert.True(r < tol, $"relative L2 {r:E3} >= {tol:E1}");
    }

    /// <summary>
    /// False when the tensor holds NaN/Inf. The public pisa-tiny modules fixture has NaN in unet.mid_block.*,
    /// unet.up_blocks.*.upsamplers.* and unet.out (recorded with a torch build that gave intermittent NaNs);
    /// tests fall back to independent checks for those and never compare against NaN.
    /// </summary>
    public static bool IsFinite(HostTensor t) => t.Data.All(float.IsFinite);

    /// <summary>Deterministic pseudo-random values in [-1, 1).</summary>
    public static HostTensor RandomNchw(int[] shape, int seed)
    {
        var rng = new Random(seed);
        var t = new HostTensor(shape);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }
}
