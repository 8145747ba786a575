using System.Diagnostics;
using PiSa.Engine;
using PiSa.Engine.Backends.Cpu;
using PiSa.Engine.Formats;
using PiSa.Engine.Pipeline;
using PiSa.Engine.Formats.Pickle;
using PiSa.Tests.Cli;
using PiSa.Tests.Formats;

namespace PiSa.Tests.Hostile;

/// <summary>
/// Regression tests for the contract breaks of issue 12 (internal errors, overflows, out-of-memory from small
/// lying files): each minimal input must give one line naming the file and what is wrong, exit 1, never 70.
/// </summary>
public sealed class ContractBreakTests
{
    private static string Lora => TinyFixtureModel.Lora;
    private static string GoodInput => Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png");

    private static PisaProcess.Result Inspect(TempDir dir, string name, byte[] bytes)
    {
        string path = dir.File(name);
        File.WriteAllBytes(path, bytes);
        return PisaProcess.Run("inspect", path);
    }

    // ---- safetensors headers ------------------------------------------------------------------------

    public static IEnumerable<object[]> BadSafetensorsHeaders() =>
    [
        ["invalid UTF-8 in a tensor name", HostileFiles.SafetensorsWithRawName([0x77, 0xFF, 0xFE]), "UTF-8"],
        ["invalid UTF-8 in a metadata value", HostileFiles.SafetensorsWithRawMetadata([0xC3, 0x28]), "UTF-8"],
        ["lone surrogate escape in a tensor name", HostileFiles.SafetensorsWithRawName("w\\ud800"u8.ToArray()), "surrogate"],
        ["lone surrogate escape in a metadata value", HostileFiles.SafetensorsWithRawMetadata("\\udc00x"u8.ToArray()), "surrogate"],
    ];

    [Theory, MemberData(nameof(BadSafetensorsHeaders))]
    public void Safetensors_header_strings_that_are_not_unicode_are_refused(string what, byte[] bytes, string fragment)
    {
        using var dir = new TempDir();
        var r = Inspect(dir, "bad.safetensors", bytes);
        PisaProcess.AssertOneLineError(r, "bad.safetensors");
        Assert.Contains(fragment, r.Stderr);
        // In process too: a PisaException, nothing else.
        var e = Assert.Throws<PisaException>(() => SafetensorsFile.Open(dir.File("bad.safetensors")).Dispose());
        Assert.Contains(fragment, e.Message);
    }

    // ---- configs ------------------------------------------------------------------------------------

    public static IEnumerable<object[]> BadConfigFields() =>
    [
        ["text_encoder", "hidden_act", "\"\\ud800\"", "surrogate"],
        ["unet", "_class_name", "\"UNet\\udfff2D\"", "surrogate"],
        ["text_encoder", "num_hidden_layers", "-2", "num_hidden_layers"],
        ["text_encoder", "num_hidden_layers", "100000", "num_hidden_layers"],
        ["text_encoder", "num_hidden_layers", "2147483647", "num_hidden_layers"],
        ["text_encoder", "vocab_size", "-5", "vocab_size"],
        ["text_encoder", "max_position_embeddings", "0", "max_position_embeddings"],
        ["unet", "layers_per_block", "65536", "layers_per_block"],
        ["unet", "layers_per_block", "2147483647", "layers_per_block"],
        ["unet", "transformer_layers_per_block", "65536", "transformer_layers_per_block"],
        ["unet", "in_channels", "-1", "in_channels"],
        ["unet", "block_out_channels", "[16, 32, 32, -32]", "block_out_channels"],
        ["vae", "layers_per_block", "1000000", "layers_per_block"],
        ["vae", "latent_channels", "0", "latent_channels"],
    ];

    [Theory, MemberData(nameof(BadConfigFields))]
    public void Config_values_out_of_bounds_are_refused_by_name(string folder, string field, string json, string fragment)
    {
        using var dir = new TempDir();
        string sd = HostileFiles.CopyTinyModel(dir.File("sd"));
        string config = Path.Combine(sd, folder, "config.json");
        HostileFiles.SetConfigField(config, field, json);

        // In process: refused quickly (no model, no huge description is built first).
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<PisaException>(() => PisaModel.Load(sd, Lora, new CpuOps()).Dispose());
        watch.Stop();
        Assert.Contains(fragment, e.Message);
        Assert.Contains(Path.Combine(folder, "config.json"), e.Message);
        Assert.True(watch.ElapsedMilliseconds < 3000, $"took {watch.ElapsedMilliseconds} ms to refuse {field} = {json}");

        string output = dir.File("o.png");
        var r = PisaProcess.Run("upscale", GoodInput, "-o", output, "--model", sd, "--lora", Lora, "--process-size", "64", "--device", "cpu");
        PisaProcess.AssertOneLineError(r, fragment);
        Assert.Contains(Path.Combine(folder, "config.json"), r.Stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void A_layer_count_the_weights_do_not_hold_is_refused_against_the_weights()
    {
        // Within the bounds, but more layers than the file has: the cross-check against the weights names it.
        using var dir = new TempDir();
        string sd = HostileFiles.CopyTinyModel(dir.File("sd"));
        HostileFiles.SetConfigField(Path.Combine(sd, "text_encoder", "config.json"), "num_hidden_layers", "100");
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<PisaException>(() => PisaModel.Load(sd, Lora, new CpuOps()).Dispose());
        Assert.True(watch.ElapsedMilliseconds < 3000, $"took {watch.ElapsedMilliseconds} ms");
        Assert.Contains("text_encoder", e.Message);
        Assert.Contains("layers.2.", e.Message);
    }

    // ---- torch checkpoints --------------------------------------------------------------------------

    [Fact]
    public void Storage_whose_byte_size_overflows_is_refused()
    {
        using var dir = new TempDir();
        // 2^62 float elements: element count x 4 bytes does not fit in 64 bits.
        var zip = HostileFiles.TorchZip(HostileFiles.OneTensorPickle(1L << 62), new Dictionary<string, byte[]> { ["0"] = new byte[16] });
        var r = Inspect(dir, "overflow.pkl", zip);
        PisaProcess.AssertOneLineError(r, "overflow.pkl");
        Assert.Contains("storage '0'", r.Stderr);
    }

    [Theory]
    [InlineData("ByteStorage", int.MaxValue)]
    [InlineData("FloatStorage", (int.MaxValue - 3) / 4)]
    public void Storage_declared_at_2GB_with_a_zip_entry_that_lies_to_match_is_refused_before_allocating(string type, long numel)
    {
        using var dir = new TempDir();
        long bytes = numel * (type == "ByteStorage" ? 1 : 4);
        var zip = HostileFiles.RawZip(
            new("archive/data.pkl", HostileFiles.OneTensorPickle(numel, type)),
            new("archive/data/0", new byte[16], DeclaredCompressed: (ulong)bytes, DeclaredUncompressed: (ulong)bytes),
            new("archive/version", "3\n"u8.ToArray()));
        var r = Inspect(dir, "liar.pkl", zip);
        PisaProcess.AssertOneLineError(r, "liar.pkl");
        Assert.Contains("data/0", r.Stderr);

        long before = GC.GetTotalAllocatedBytes(precise: true);
        Assert.Throws<PisaException>(() => TorchCheckpoint.Load(dir.File("liar.pkl")));
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 64 << 20, "allocated the declared size before refusing");
    }

    [Theory]
    [InlineData("data.pkl", false)]
    [InlineData("data.pkl", true)]
    [InlineData("data/0", false)]
    [InlineData("data/0", true)]
    public void Zip64_extra_field_with_a_size_of_2_to_the_64_minus_1_is_refused(string entry, bool uncompressed)
    {
        using var dir = new TempDir();
        const ulong huge = ulong.MaxValue;
        HostileFiles.RawZipEntry E(string name, byte[] data) => name != "archive/" + entry ? new(name, data)
            : uncompressed ? new(name, data, DeclaredUncompressed: huge, Zip64: true) : new(name, data, DeclaredCompressed: huge, Zip64: true);
        var zip = HostileFiles.RawZip(E("archive/data.pkl", HostileFiles.OneTensorPickle(4)), E("archive/data/0", new byte[16]));
        var r = Inspect(dir, "zip64.pkl", zip);
        PisaProcess.AssertOneLineError(r, "zip64.pkl");
    }

    [Fact]
    public void Zip_entry_sizes_past_the_file_are_refused()
    {
        using var dir = new TempDir();
        var zip = HostileFiles.RawZip(
            new("archive/data.pkl", HostileFiles.OneTensorPickle(4), DeclaredCompressed: 1UL << 30, DeclaredUncompressed: 1UL << 30),
            new("archive/data/0", new byte[16]));
        var r = Inspect(dir, "big.pkl", zip);
        PisaProcess.AssertOneLineError(r, "big.pkl");
    }

    [Fact]
    public void Billion_laughs_pickle_is_not_expanded_by_inspect()
    {
        using var dir = new TempDir();
        var zip = HostileFiles.TorchZip(HostileFiles.BillionLaughsPickle(40));
        Assert.True(zip.Length < 4096);
        var watch = Stopwatch.StartNew();
        var r = Inspect(dir, "laughs.pkl", zip);
        Assert.True(watch.ElapsedMilliseconds < 30_000, $"inspect took {watch.ElapsedMilliseconds} ms");
        // A valid (if odd) pickle: listed with the shared references shown as references, in a few lines.
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("same object as", r.Stdout);
        Assert.True(r.Stdout.Length < 16_000, $"inspect printed {r.Stdout.Length} characters");

        // And it is no PiSA checkpoint: convert and upscale refuse it in one line.
        PisaProcess.AssertOneLineError(PisaProcess.Run("convert", dir.File("laughs.pkl"), "-o", dir.File("x.safetensors")), "laughs.pkl");
        Assert.False(File.Exists(dir.File("x.safetensors")));
    }

    [Fact]
    public void A_pickle_graph_over_the_value_budget_is_refused()
    {
        // One list referenced ever more times through the memo: 2 bytes per reference, each counted once
        // (a reference, not a copy of what it points to) against the budget on the graph.
        long n = RestrictedUnpickler.MaxValues + 1;
        var p = new PickleBuilder().Proto(2).EmptyList().Op('q').Raw(0).EmptyList();
        const int chunk = 1 << 20;
        for (long done = 0; done < n; done += chunk)
        {
            p.Mark();
            for (int i = 0; i < chunk; i++) p.Op('h').Raw(0);
            p.Op('e');
        }
        var e = Assert.Throws<PisaException>(() => RestrictedUnpickler.Load(p.Stop().ToArray(), "budget.pkl", _ => throw new InvalidOperationException()));
        Assert.Contains("budget.pkl", e.Message);
        Assert.Contains("values", e.Message);
    }
}
