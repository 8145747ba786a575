using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using static PiSa.Tests.Cli.CliImageTests;

namespace PiSa.Tests.Cli;

/// <summary>`--list` runs upscale's own per-input path: the output options work with it and give exactly the files
/// the argument form writes; only what cannot apply to a list is refused.</summary>
public sealed class BatchListOptionsTests
{
    /// <summary>in/a.png (RGB) and in/sub/g.png (greyscale), listed in in/list.txt.</summary>
    private static void MakeList(TempDir dir)
    {
        Directory.CreateDirectory(dir.File("in/sub"));
        File.Copy(Input("lq_a.png"), dir.File("in/a.png"));
        using (var g = Image.Load<L8>(Input("lq_b.png"))) g.SaveAsPng(dir.File("in/sub/g.png"), new PngEncoder { ColorType = PngColorType.Grayscale });
        File.WriteAllLines(dir.File("in/list.txt"), ["a.png", "sub/g.png"]);
        Directory.CreateDirectory(dir.File("single"));   // where the argument form writes, to compare
    }

    private static string[] List(TempDir dir, string output, params string[] extra) =>
        ["upscale", "--list", dir.File("in/list.txt"), "-o", dir.File(output), "--model", Sd, "--lora", CliImageTests.Lora, "--process-size", "64", "--device", "cpu", .. extra];

    private static List<JsonElement> Lines(string path) => [.. File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement)];

    [Fact]
    public void Format_quality_and_json_progress_work_with_a_list_and_equal_the_argument_form()
    {
        using var dir = new TempDir();
        MakeList(dir);
        var r = Ok(List(dir, "out", "--format", "jpg", "--quality", "80", "--progress", "json", "--results", dir.File("r.jsonl")));
        Assert.True(File.Exists(dir.File("out/a.jpg")) && File.Exists(dir.File("out/sub/g.jpg")));
        Assert.False(File.Exists(dir.File("out/a.png")));
        Ok(Upscale(dir.File("in/a.png"), dir.File("single/a.jpg"), "--quality", "80"));
        Assert.Equal(File.ReadAllBytes(dir.File("single/a.jpg")), File.ReadAllBytes(dir.File("out/a.jpg")));
        Assert.Equal(80, Image.Identify(dir.File("out/a.jpg")).Metadata.GetJpegMetadata().Quality);   // not the default 95
        // The grey input stays grey, as upscale writes it.
        Assert.Equal(SixLabors.ImageSharp.Formats.Jpeg.JpegColorType.Luminance,
            Image.Identify(dir.File("out/sub/g.jpg")).Metadata.GetJpegMetadata().ColorType);

        var events = r.StderrLines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var images = events.Where(e => e.GetProperty("event").GetString() == "image").ToList();
        Assert.Equal([1, 2], images.Select(e => e.GetProperty("image").GetInt32()).Order());
        Assert.All(images, e => { Assert.True(e.GetProperty("ok").GetBoolean()); Assert.Equal(2, e.GetProperty("images").GetInt32()); });
        Assert.Contains(events, e => e.GetProperty("event").GetString() == "stage" && e.GetProperty("stage").GetString() == "unet"
            && e.GetProperty("file").GetString() == "g.png");
        Assert.Equal("done", events[^1].GetProperty("event").GetString());
        Assert.Equal([dir.File("out/a.jpg"), dir.File("out/sub/g.jpg")], Lines(dir.File("r.jsonl")).Select(l => l.GetProperty("output").GetString()));
    }

    [Fact]
    public void A_lambda_grid_keep_rgb_and_bit_depth_work_with_a_list_and_skip_existing_needs_every_output()
    {
        using var dir = new TempDir();
        MakeList(dir);
        string[] options = ["--lambda-pix", "0.5,1", "--lambda-sem", "1", "--keep-rgb", "--bit-depth", "16"];
        Ok(List(dir, "out", [.. options, "--results", dir.File("r.jsonl")]));
        foreach (var stem in new[] { "a", "sub/g" })
            foreach (var name in new[] { "_pix0.5_sem1.png", "_pix1_sem1.png", "_grid.png" })
                Assert.True(File.Exists(dir.File($"out/{stem}{name}")), stem + name);
        Ok(Upscale(dir.File("in/sub/g.png"), dir.File("single/g.png"), options));
        foreach (var name in new[] { "g_pix0.5_sem1.png", "g_pix1_sem1.png", "g_grid.png" })
            Assert.Equal(File.ReadAllBytes(dir.File($"single/{name}")), File.ReadAllBytes(dir.File($"out/sub/{name}")));
        var png = Image.Identify(dir.File("out/sub/g_pix1_sem1.png")).Metadata.GetPngMetadata();
        Assert.Equal((PngColorType.Rgb, PngBitDepth.Bit16), (png.ColorType, png.BitDepth));   // --keep-rgb, --bit-depth 16
        var line = Lines(dir.File("r.jsonl"))[0];
        Assert.Equal(3, line.GetProperty("outputs").GetArrayLength());

        // One pair's file missing: that input is not skipped.
        File.Delete(dir.File("out/a_pix1_sem1.png"));
        Ok(List(dir, "out", [.. options, "--skip-existing", "--results", dir.File("r2.jsonl")]));
        var status = Lines(dir.File("r2.jsonl")).ToDictionary(l => Path.GetFileName(l.GetProperty("input").GetString()!), l => l.GetProperty("status").GetString());
        Assert.Equal("ok", status["a.png"]);
        Assert.Equal("skipped", status["g.png"]);
        Assert.True(File.Exists(dir.File("out/a_pix1_sem1.png")));
    }

    [Fact]
    public void Max_memory_gpu_and_dump_tensors_work_with_a_list()
    {
        using var dir = new TempDir();
        MakeList(dir);
        // --gpu is taken as upscale takes it: the same outcome for a list as for an argument (on a machine without
        // a GPU, the same one-line error before any work).
        var listGpu = PisaProcess.Run(["upscale", "--list", dir.File("in/list.txt"), "-o", dir.File("gpu"), "--model", Sd, "--lora", CliImageTests.Lora,
            "--process-size", "64", "--max-memory", "1M", "--gpu", "0"]);
        var argGpu = PisaProcess.Run(["upscale", dir.File("in/a.png"), "-o", dir.File("gpu-arg/"), "--model", Sd, "--lora", CliImageTests.Lora,
            "--process-size", "64", "--max-memory", "1M", "--gpu", "0"]);
        Assert.Equal(argGpu.ExitCode, listGpu.ExitCode);
        if (argGpu.ExitCode != 1) Assert.Equal(argGpu.Stderr, listGpu.Stderr);

        // Every input refused by the budget in one line each, before compute.
        var tight = PisaProcess.Run(List(dir, "out", "--max-memory", "1M", "--results", dir.File("r.jsonl")));
        Assert.Equal(1, tight.ExitCode);
        Assert.Equal(2, tight.StderrLines.Count(l => l.Contains("memory budget")));
        Assert.DoesNotContain("   at ", tight.Stderr);
        Assert.All(Lines(dir.File("r.jsonl")), l => Assert.Equal("failed", l.GetProperty("status").GetString()));
        Assert.False(File.Exists(dir.File("out/a.png")));

        Ok(List(dir, "dumped", "--dump-tensors", dir.File("t.safetensors"), "-q"));
        Assert.True(File.Exists(dir.File("t.a.safetensors")) && File.Exists(dir.File("t.g.safetensors")));
        Assert.True(File.Exists(dir.File("dumped/a.png")));
    }

    [Fact]
    public void What_cannot_apply_to_a_list_is_refused_before_any_work()
    {
        using var dir = new TempDir();
        MakeList(dir);
        PisaProcess.AssertOneLineError(PisaProcess.Run(List(dir, "out", "-r")), "--recursive", exitCode: 2);
        // Two listed inputs of one name would share a tensor dump.
        Directory.CreateDirectory(dir.File("in/other"));
        File.Copy(Input("lq_c.png"), dir.File("in/other/a.png"));
        File.AppendAllLines(dir.File("in/list.txt"), ["other/a.png"]);
        PisaProcess.AssertOneLineError(PisaProcess.Run(List(dir, "out", "--dump-tensors", dir.File("t.safetensors"))), "both be dumped", exitCode: 2);
        // An output folder that is the list's own folder would write over the inputs.
        PisaProcess.AssertOneLineError(PisaProcess.Run(List(dir, "in")), "is an input", exitCode: 2);
        Assert.False(Directory.Exists(dir.File("out")));
    }
}
