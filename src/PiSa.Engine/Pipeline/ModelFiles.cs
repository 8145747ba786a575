namespace PiSa.Engine.Pipeline;

/// <summary>
/// Finds the files of a diffusers-layout SD2.1 folder. A missing file is reported by its full path with a
/// pointer to weights/README.md, before anything is loaded.
/// </summary>
public sealed record ModelFiles(
    string UNetConfig, string UNetWeights,
    string VaeConfig, string VaeWeights,
    string TextConfig, string TextWeights,
    string TokenizerDir)
{
    public static ModelFiles Locate(string modelDir)
    {
        if (!Directory.Exists(modelDir))
            throw new PisaException($"model folder not found: {modelDir} (see weights/README.md for how to get SD 2.1-base)");
        string Need(string rel) => File.Exists(Path.Combine(modelDir, rel)) ? Path.Combine(modelDir, rel)
            : throw new PisaException($"model file missing: {Path.Combine(modelDir, rel)} (see weights/README.md for the expected files)");
        string Weights(string folder, string stem)
        {
            foreach (var name in new[] { stem + ".safetensors", stem + ".fp16.safetensors" })
            {
                var p = Path.Combine(modelDir, folder, name);
                if (File.Exists(p)) return p;
            }
            throw new PisaException($"model file missing: {Path.Combine(modelDir, folder, stem + ".safetensors")} (or .fp16.safetensors; see weights/README.md for the expected files)");
        }
        Need("tokenizer/merges.txt");
        return new ModelFiles(
            Need("unet/config.json"), Weights("unet", "diffusion_pytorch_model"),
            Need("vae/config.json"), Weights("vae", "diffusion_pytorch_model"),
            Need("text_encoder/config.json"), Weights("text_encoder", "model"),
            Path.GetDirectoryName(Need("tokenizer/vocab.json"))!);
    }
}
