using System.Security.Cryptography;
using PiSa.Engine.Formats;
using PiSa.Tests.Cli;

namespace PiSa.Tests.Hostile;

/// <summary>
/// Models downloaded the usual way live in the Hugging Face cache, where every snapshot file is a symbolic
/// link to a content-addressed blob: <c>snapshots/&lt;hash&gt;/unet/diffusion_pytorch_model.safetensors -&gt;
/// ../../../blobs/&lt;sha256&gt;</c>. Such a layout (and links to single files and folders) must load.
/// </summary>
public sealed class SymlinkModelTests
{
    private static string Sd => TinyFixtureModel.Sd;
    private static string Lora => TinyFixtureModel.Lora;
    private static string Input => Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png");

    /// <summary>Builds models--org--name/{blobs,snapshots/&lt;hash&gt;,refs} from the tiny model; returns the snapshot folder.</summary>
    private static string BuildHfCache(string root)
    {
        string repo = Path.Combine(root, "hub", "models--pisa--tiny-sd");
        string blobs = Directory.CreateDirectory(Path.Combine(repo, "blobs")).FullName;
        const string revision = "0123456789abcdef0123456789abcdef01234567";
        string snapshot = Path.Combine(repo, "snapshots", revision);
        foreach (var file in Directory.GetFiles(Sd, "*", SearchOption.AllDirectories))
        {
            string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            string blob = Path.Combine(blobs, sha);
            if (!File.Exists(blob)) File.Copy(file, blob);
            string link = Path.Combine(snapshot, Path.GetRelativePath(Sd, file));
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            // Relative, as huggingface_hub writes them: up from the file's folder to the repo, then blobs/.
            File.CreateSymbolicLink(link, Path.GetRelativePath(Path.GetDirectoryName(link)!, blob));
        }
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), revision);
        return snapshot;
    }

    [Fact]
    public void A_hugging_face_cache_snapshot_loads_and_upscales_like_the_plain_folder()
    {
        using var dir = new TempDir();
        string snapshot = BuildHfCache(dir.Path);
        string unetLink = Path.Combine(snapshot, "unet", "diffusion_pytorch_model.safetensors");
        Assert.NotNull(new FileInfo(unetLink).LinkTarget);
        Assert.StartsWith("../../../blobs/", new FileInfo(unetLink).LinkTarget);

        // The reader sees the blob's size, not the link's.
        using (var st = SafetensorsFile.Open(unetLink))
            Assert.NotEmpty(st.Entries);

        // A link to the LoRA file and one to the snapshot folder too.
        string loraLink = dir.File("pisa_sr.pkl");
        File.CreateSymbolicLink(loraLink, Lora);
        string modelLink = dir.File("sd21");
        Directory.CreateSymbolicLink(modelLink, snapshot);

        string viaLinks = dir.File("links.png"), plain = dir.File("plain.png");
        var r = PisaProcess.Run("upscale", Input, "-o", viaLinks, "--model", modelLink, "--lora", loraLink, "--process-size", "64", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var p = PisaProcess.Run("upscale", Input, "-o", plain, "--model", Sd, "--lora", Lora, "--process-size", "64", "--device", "cpu");
        Assert.True(p.ExitCode == 0, p.Stderr);
        Assert.Equal(File.ReadAllBytes(plain), File.ReadAllBytes(viaLinks));
    }

    [Fact]
    public void Inspect_reads_a_linked_safetensors_file_and_checkpoint()
    {
        using var dir = new TempDir();
        string st = dir.File("model.safetensors"), pkl = dir.File("lora.pkl");
        File.CreateSymbolicLink(st, Path.Combine(Sd, "vae", "diffusion_pytorch_model.safetensors"));
        File.CreateSymbolicLink(pkl, Lora);
        var a = PisaProcess.Run("inspect", st);
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.Contains("safetensors", a.Stdout);
        var b = PisaProcess.Run("inspect", pkl);
        Assert.True(b.ExitCode == 0, b.Stderr);
    }

    [Fact]
    public void A_dangling_link_is_a_one_line_error()
    {
        using var dir = new TempDir();
        string sd = HostileFiles.CopyTinyModel(dir.File("sd"));
        string unet = Path.Combine(sd, "unet", "diffusion_pytorch_model.safetensors");
        File.Delete(unet);
        File.CreateSymbolicLink(unet, "../../blobs/gone");
        var r = PisaProcess.Run("upscale", Input, "-o", dir.File("o.png"), "--model", sd, "--lora", Lora, "--process-size", "64", "--device", "cpu");
        PisaProcess.AssertOneLineError(r, Path.Combine("unet", "diffusion_pytorch_model.safetensors"));
        Assert.False(File.Exists(dir.File("o.png")));
    }
}
