using PiSa.Engine;
using PiSa.Engine.Lora;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa convert pisa_sr.pkl pisa_sr.safetensors`: rewrites the official torch.save LoRA checkpoint as a
/// safetensors file with the module lists and ranks in __metadata__ (the fixture's convention), so it can
/// be memory-mapped and inspected without the pickle reader. Written under a temporary name, then renamed.
/// </summary>
public static class ConvertCommand
{
    public static int Run(string inputPath, string outputPath, TextWriter log)
    {
        if (!string.Equals(Path.GetExtension(outputPath), ".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"convert -o {outputPath}: the output is a safetensors file and must end in .safetensors");
        if (!File.Exists(inputPath)) throw new PisaException($"'{inputPath}': file not found");
        string dir = Path.GetDirectoryName(Path.GetFullPath(outputPath))!;
        if (!Directory.Exists(dir)) throw new PisaException($"convert -o {outputPath}: folder '{dir}' does not exist");
        var ckpt = PisaCheckpoint.Load(inputPath);
        ckpt.SaveSafetensors(outputPath);
        log.WriteLine($"wrote {outputPath}: {ckpt.Tensors.Count} tensors, pix {ckpt.Pix.Count} modules (rank {ckpt.RankPix}), sem {ckpt.Sem.Count} modules (rank {ckpt.RankSem})");
        return 0;
    }
}
