using PiSa.Cli.Commands;
using PiSa.Engine;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Engine.Lora;
using PiSa.Engine.Models.Descriptions;

namespace PiSa.Tests.Hostile;

/// <summary>The kinds of untrusted input the fuzzers feed.</summary>
public enum FuzzKind { Checkpoint, Safetensors, Image, Config }

/// <summary>
/// One fuzz input through the readers a user's file meets, in process. The contract: each reader either
/// accepts the input or refuses it with a <see cref="PisaException"/>; any other exception escapes (a finding).
/// Shared by the in-suite fuzz test and the SharpFuzz harness (tests/PiSa.Fuzz links this file), so both
/// check the same thing.
/// </summary>
public sealed class FuzzTargets(string scratchDir, string? tinyModelDir)
{
    private readonly string _scratch = Directory.CreateDirectory(scratchDir).FullName;
    // The tiny model's stored tensor shapes, for the config cross-check (loaded once).
    private readonly Lazy<Dictionary<string, IReadOnlyDictionary<string, int[]>>> _stored = new(() => LoadShapes(tinyModelDir));

    /// <summary>
    /// Runs every reader of <paramref name="kind"/> on <paramref name="data"/>; true when the format's own reader
    /// (inspect, the image decoder, one of the config parsers) accepted it; the readers after it (the PiSA
    /// checkpoint, the cross-check against the weights) then refuse most inputs, as they should.
    /// </summary>
    public bool Run(FuzzKind kind, ReadOnlySpan<byte> data) => kind switch
    {
        FuzzKind.Checkpoint => Checkpoint(data),
        FuzzKind.Safetensors => Safetensors(data),
        FuzzKind.Image => Image(data.ToArray()),
        _ => Config(data),
    };

    private string Write(string name, ReadOnlySpan<byte> data)
    {
        string path = Path.Combine(_scratch, name);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    private static bool Image(byte[] data) => Attempt(() => ImageIO.Decode(data, "fuzz.png"));

    private bool Checkpoint(ReadOnlySpan<byte> data)
    {
        string path = Write("fuzz.pkl", data);
        bool accepted = Attempt(() => InspectCommand.Run(path, TextWriter.Null));
        Attempt(() => PisaCheckpoint.Load(path));
        return accepted;
    }

    private bool Safetensors(ReadOnlySpan<byte> data)
    {
        string path = Write("fuzz.safetensors", data);
        bool accepted = Attempt(() => InspectCommand.Run(path, TextWriter.Null));
        Attempt(() =>
        {
            using var file = SafetensorsFile.Open(path);
            foreach (var e in file.Entries)
            {
                if (SafetensorsDTypes.IsFloat(e.DType)) file.ReadFloat(e.Name);
                else file.GetBytes(e).ToArray();
            }
        });
        Attempt(() => PisaCheckpoint.Load(path));
        return accepted;
    }

    /// <summary>The text as each of the three configs, and what parses is cross-checked against the tiny model's weights.</summary>
    private bool Config(ReadOnlySpan<byte> data)
    {
        string json = System.Text.Encoding.UTF8.GetString(data);
        var stored = tinyModelDir is null ? null : _stored.Value;
        bool parsed = false;
        Attempt(() => { var d = UNetDescription.Build(DiffusersConfig.ParseUNet(json)); parsed = true; Check(d, stored, "unet"); });
        Attempt(() => { var d = VaeDescription.Build(DiffusersConfig.ParseVae(json)); parsed = true; Check(d, stored, "vae"); });
        Attempt(() => { var d = ClipTextDescription.Build(DiffusersConfig.ParseClipText(json)); parsed = true; Check(d, stored, "text_encoder"); });
        return parsed;
    }

    private static void Check(IReadOnlyList<ParamSpec> described, Dictionary<string, IReadOnlyDictionary<string, int[]>>? stored, string part)
    {
        if (stored != null) ParamCheck.Verify(described, stored[part], part);
    }

    /// <summary>True when <paramref name="a"/> accepted the input, false when it refused it (PisaException);
    /// any other exception escapes. Each reader gets its turn even when an earlier one refused.</summary>
    private static bool Attempt(Action a)
    {
        try { a(); return true; }
        catch (PisaException) { return false; }
    }

    private static Dictionary<string, IReadOnlyDictionary<string, int[]>> LoadShapes(string? modelDir)
    {
        var r = new Dictionary<string, IReadOnlyDictionary<string, int[]>>();
        if (modelDir is null) return r;
        foreach (var (part, file) in new[] { ("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"), ("text_encoder", "model") })
        {
            using var st = SafetensorsFile.Open(Path.Combine(modelDir, part, file + ".safetensors"));
            r[part] = st.Entries.ToDictionary(e => e.Name, e => e.Shape, StringComparer.Ordinal);
        }
        return r;
    }
}
