using System.CommandLine;
using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Bench;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;
using PiSa.Engine.Lora;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Tensors;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa export-random DIR [--config-dir D] [--size N] [--device D]`: the data bench/reference/pisa_torch_gpu.py needs to
/// run the official modules on exactly our weights and compare: the random model `pisa bench --random-weights` uses
/// (same seed), written as diffusers state dicts (UNet with the default mode's merged weights W_pisa, VAE; fp16), the
/// configs, and our pipeline's intermediates on one random image on the chosen device (default mode, no colour fix).
/// </summary>
public static class ExportRandomCommand
{
    public const string UnetFile = "unet/pisa_default.safetensors", VaeFile = "vae/diffusion_pytorch_model.safetensors", OursFile = "ours.safetensors";

    public static Command Build()
    {
        var dir = new Argument<string>("DIR") { Description = "folder to write (created; its parent must exist)" };
        var device = DeviceOption.Create();
        var configDir = new Option<string?>("--config-dir") { Description = "unet/, vae/, text_encoder/config.json (default: tests/fixtures/sd21-base)" };
        var size = new Option<int>("--size") { Description = "output size in pixels of the image our pipeline runs (a multiple of 64; input = size/4)", DefaultValueFactory = _ => 512 };
        var cmd = new Command("export-random", "Write the random SD 2.1-shaped model and our outputs on it, for the PyTorch reference (bench/reference).")
        {
            dir, device, configDir, size,
        };
        cmd.SetAction(r => Run(r.GetValue(dir)!, r.GetValue(device)!, r.GetValue(configDir), r.GetValue(size), Console.Out));
        return cmd;
    }

    public static int Run(string dir, string device, string? configDir, int size, TextWriter o)
    {
        if (size < 64 || size % 64 != 0) throw new UsageException($"--size {size} is not a positive multiple of 64");
        string full = Path.GetFullPath(dir);
        string parent = Path.GetDirectoryName(full) ?? throw new PisaException($"export-random: {dir} has no parent folder");
        if (!Directory.Exists(parent)) throw new PisaException($"export-random: folder '{parent}' does not exist");
        if (File.Exists(full)) throw new PisaException($"export-random: {dir} is a file");
        string cfg = configDir ?? RepoPaths.FindUp(Path.Combine("tests", "fixtures", "sd21-base"))
            ?? throw new PisaException("export-random: no tests/fixtures/sd21-base above the current folder; give --config-dir DIR");
        string Need(string rel)
        {
            string p = Path.Combine(cfg, rel);
            return File.Exists(p) ? p : throw new PisaException($"config file missing: {p} (a config folder needs unet/, vae/ and text_encoder/config.json)");
        }
        var unetCfg = DiffusersConfig.LoadUNet(Need("unet/config.json"));
        var vaeCfg = DiffusersConfig.LoadVae(Need("vae/config.json"));
        var textCfg = DiffusersConfig.LoadClipText(Need("text_encoder/config.json"));

        foreach (var sub in new[] { "unet", "vae" })
        {
            Directory.CreateDirectory(Path.Combine(full, sub));
            File.Copy(Need($"{sub}/config.json"), Path.Combine(full, sub, "config.json"), overwrite: true);
        }
        var w = RandomModel.Sources(unetCfg, vaeCfg, textCfg);
        var merged = LoraMerger.PisaWeights(w.Unet, w.Lora);
        var meta = new Dictionary<string, string> { ["pisa"] = $"random SD 2.1-shaped weights, seed {RandomModel.DefaultSeed:X}, configs {cfg}" };
        // One tensor at a time: the writer takes the list, the sources make each tensor when it is asked for.
        SafetensorsWriter.Write(Path.Combine(full, UnetFile), merged.Names.Select(n => KeyValuePair.Create(n, merged.Get(n))),
            new Dictionary<string, string>(meta) { ["weights"] = "UNet W_pisa (pixel and semantic LoRAs merged at scale 1: the default mode)" }, SafetensorsDType.F16);
        SafetensorsWriter.Write(Path.Combine(full, VaeFile), w.Vae.Names.Select(n => KeyValuePair.Create(n, w.Vae.Get(n))), meta, SafetensorsDType.F16);
        o.WriteLine($"export-random: {UnetFile}, {VaeFile} and configs in {dir}");

        using var ops = BackendFactory.Create(device, n => Console.Error.WriteLine($"pisa: {n}"));
        using var model = RandomModel.Create(ops, cfg);
        var pipeline = new UpscalePipeline(model);
        var opts = new UpscaleOptions { Mode = LoraMode.Default, Upscale = 4, ProcessSize = size, ColorFix = ColorFixMethod.None };
        var result = pipeline.Run(BenchRunner.RandomImage(size / 4, size / 4, 1234), opts, keepTensors: true);
        var tensors = result.Tensors!.Where(kv => kv.Key != "final").ToDictionary(kv => kv.Key, kv => kv.Value);
        SafetensorsWriter.Write(Path.Combine(full, OursFile), tensors,
            new Dictionary<string, string>(meta) { ["device"] = ops.Name, ["size"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture), ["mode"] = "default" });
        o.WriteLine($"export-random: our intermediates on {ops.Name} at {size}x{size} ({string.Join(", ", tensors.Keys)}) in {Path.Combine(dir, OursFile)}");
        return Program.ExitOk;
    }
}
