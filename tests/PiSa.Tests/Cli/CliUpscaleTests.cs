using System.Text.Json;
using PiSa.Engine.Imaging;
using static PiSa.Tests.Cli.CliImageTests;

namespace PiSa.Tests.Cli;

/// <summary>Issue 10, items 2-8: lambdas, the grid, paths checked before compute, progress, errors, CLI niceties;
/// each through the `pisa` process on the tiny fixture model.</summary>
public sealed class CliUpscaleTests
{
    private static RgbImage Load(string path) => ImageIO.Load(path);

    private static double MeanAbsDiff(RgbImage a, RgbImage b)
    {
        Assert.Equal((a.Width, a.Height), (b.Width, b.Height));
        return a.Data.Zip(b.Data, (x, y) => (double)Math.Abs(x - y)).Average();
    }

    [Fact]
    public void A_lambda_without_mode_runs_the_adjustable_mode_and_default_with_a_lambda_is_a_usage_error()
    {
        using var dir = new TempDir();
        Ok([.. Upscale(Input("lq_a.png"), dir.File("o.png")), "--lambda-pix", "0.5", "--lambda-sem", "1.2"]);
        var want = Load(Path.Combine(FixturePaths.Tiny, "expected", "case_a_adj_0.5_1.2.png"));
        Assert.True(MeanAbsDiff(want, Load(dir.File("o.png"))) < 0.5);
        // Not the default mode's image: the lambdas were used.
        var def = Load(Path.Combine(FixturePaths.Tiny, "expected", "case_a_default.png"));
        Assert.True(MeanAbsDiff(def, Load(dir.File("o.png"))) > 1);

        PisaProcess.AssertOneLineError(PisaProcess.Run([.. Upscale(Input("lq_a.png"), dir.File("d.png")), "--mode", "default", "--lambda-pix", "0.5"]),
            "--mode adjustable", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. Upscale(Input("lq_a.png"), dir.File("d.png")), "--lambda-pix", "1,5"]), "1.5", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. Upscale(Input("lq_a.png"), dir.File("d.png")), "--lambda-sem", "0,7x"]), "not a number", exitCode: 2);
        Assert.False(File.Exists(dir.File("d.png")));
    }

    [Fact]
    public void The_grid_writes_every_pair_and_a_contact_sheet_each_equal_to_a_separate_run()
    {
        using var dir = new TempDir();
        // lq_e with an 8-pixel latent tile: 6 tiles, so the kept passes go through the tile blending too.
        string[] tiled = ["--latent-tile", "8", "--latent-overlap", "2"];
        Ok([.. Upscale(Input("lq_e.png"), dir.File("e.png")), .. tiled, "--lambda-pix", "0.5,1", "--lambda-sem", "1.2,0,1"]);
        string[] pairs = ["pix0.5_sem1.2", "pix0.5_sem0", "pix0.5_sem1", "pix1_sem1.2", "pix1_sem0", "pix1_sem1"];
        foreach (var p in pairs) Assert.True(File.Exists(dir.File($"e_{p}.png")), p);

        Ok([.. Upscale(Input("lq_e.png"), dir.File("sep_a.png")), .. tiled, "--lambda-pix", "0.5", "--lambda-sem", "1.2"]);
        Ok([.. Upscale(Input("lq_e.png"), dir.File("sep_b.png")), .. tiled, "--mode", "adjustable", "--lambda-pix", "1", "--lambda-sem", "0"]);
        Assert.Equal(Load(dir.File("sep_a.png")).Data, Load(dir.File("e_pix0.5_sem1.2.png")).Data);
        Assert.Equal(Load(dir.File("sep_b.png")).Data, Load(dir.File("e_pix1_sem0.png")).Data);
        // And the golden case made by the official code at (0.5, 1.2) with this tiling.
        var golden = Load(Path.Combine(FixturePaths.Tiny, "expected", "case_e_adj_0.5_1.2_latenttiled.png"));
        Assert.True(MeanAbsDiff(golden, Load(dir.File("e_pix0.5_sem1.2.png"))) < 0.5);

        // Contact sheet: rows lambda_pix, columns lambda_sem, 8-pixel white gaps.
        var sheet = Load(dir.File("e_grid.png"));
        const int gap = ContactSheet.Gap, w = 128, h = 96;
        Assert.Equal((3 * (w + gap) + gap, 2 * (h + gap) + gap), (sheet.Width, sheet.Height));
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 3; c++)
            {
                var cell = Load(dir.File($"e_{pairs[r * 3 + c]}.png"));
                int x0 = gap + c * (w + gap), y0 = gap + r * (h + gap);
                for (int y = 0; y < h; y += 7)
                    Assert.Equal(cell.Data.AsSpan(y * w * 3, w * 3).ToArray(), sheet.Data.AsSpan(((y0 + y) * sheet.Width + x0) * 3, w * 3).ToArray());
            }
        Assert.Equal(255, sheet.Data[0]);

        PisaProcess.AssertOneLineError(PisaProcess.Run([.. Upscale(Input("lq_a.png"), dir.File("f.png")), "--mode", "fused", "--lambda-pix", "0.5,1"]),
            "adjustable", exitCode: 2);
    }

    [Fact]
    public void Output_paths_are_checked_before_the_model_is_loaded()
    {
        using var dir = new TempDir();
        string[] NoModel(string input, string output, params string[] extra) =>
            ["upscale", input, "-o", output, "--model", dir.File("no-model-here"), "--lora", dir.File("no.pkl"), .. extra];
        // Each of these would otherwise fail on the missing model: the output is checked first.
        PisaProcess.AssertOneLineError(PisaProcess.Run(NoModel(Input("lq_a.png"), dir.File("missing/out.png"))), "does not exist");
        File.Copy(Input("lq_a.png"), dir.File("a.png"));
        PisaProcess.AssertOneLineError(PisaProcess.Run(NoModel(dir.File("a.png"), dir.File("a.png"))), "is an input", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run(NoModel(dir.File("a.png"), dir.File("a.gif"))), "unsupported extension");
        PisaProcess.AssertOneLineError(PisaProcess.Run(["upscale", Input("lq_a.png"), Input("lq_b.png"), "-o", dir.File("out.png"),
            "--model", dir.File("x"), "--lora", dir.File("y")]), "output folder", exitCode: 2);
        Assert.False(Directory.Exists(dir.File("out.png")));
        PisaProcess.AssertOneLineError(PisaProcess.Run(NoModel(Input("lq_a.png"), dir.File("o.png"), "--dump-tensors", dir.File("x.npz"))), ".safetensors", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run(NoModel(Input("lq_a.png"), "/proc/pisa-out.png")), "not writable");
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), f => Path.GetFileName(f) != "a.png");
    }

    [Fact]
    public void Recursive_mirrors_subfolders_and_skip_existing_resumes()
    {
        using var dir = new TempDir();
        string inputs = dir.File("in"), outputs = dir.File("out");
        Directory.CreateDirectory(Path.Combine(inputs, "sub", "deeper"));
        File.Copy(Input("lq_a.png"), Path.Combine(inputs, "top.png"));
        File.Copy(Input("lq_c.png"), Path.Combine(inputs, "sub", "deeper", "inner.png"));
        Ok(Upscale(inputs, outputs, "-r"));
        Assert.True(File.Exists(Path.Combine(outputs, "top.png")));
        Assert.True(File.Exists(Path.Combine(outputs, "sub", "deeper", "inner.png")));

        // Without -r the subfolder is not walked.
        Ok(Upscale(inputs, dir.File("flat")));
        Assert.False(Directory.Exists(Path.Combine(dir.File("flat"), "sub")));

        // Resume: one output removed, one kept (marked so a rewrite would show).
        File.Delete(Path.Combine(outputs, "sub", "deeper", "inner.png"));
        File.WriteAllText(Path.Combine(outputs, "top.png"), "kept");
        var r = Ok(Upscale(inputs, outputs, "-r", "--skip-existing"));
        Assert.Contains(r.StderrLines, l => l.Contains("skipping 1"));
        Assert.Equal("kept", File.ReadAllText(Path.Combine(outputs, "top.png")));
        Assert.True(File.Exists(Path.Combine(outputs, "sub", "deeper", "inner.png")));
    }

    [Fact]
    public void Progress_never_writes_carriage_returns_when_redirected_json_events_parse_and_quiet_is_quiet()
    {
        using var dir = new TempDir();
        string inputs = dir.File("in");
        Directory.CreateDirectory(inputs);
        File.Copy(Input("lq_a.png"), Path.Combine(inputs, "a.png"));
        File.Copy(Input("lq_e.png"), Path.Combine(inputs, "e.png"));
        var plain = Ok(Upscale(inputs, dir.File("o1"), "--latent-tile", "8", "--latent-overlap", "2"));
        Assert.DoesNotContain('\r', plain.Stderr);
        Assert.Contains("stage times", plain.Stderr);

        var json = Ok(Upscale(inputs, dir.File("o2"), "--latent-tile", "8", "--latent-overlap", "2", "--progress", "json"));
        var events = json.StderrLines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Contains(events, e => e.GetProperty("event").GetString() == "stage" && e.GetProperty("stage").GetString() == "unet");
        var tiles = events.Where(e => e.GetProperty("event").GetString() == "tile").ToList();
        Assert.Equal(6, tiles.Count(e => e.GetProperty("image").GetInt32() == 2));
        Assert.Contains(tiles, e => e.GetProperty("tile").GetInt32() == 6 && e.GetProperty("tiles").GetInt32() == 6);
        Assert.Equal(2, events.Count(e => e.GetProperty("event").GetString() == "image" && e.GetProperty("ok").GetBoolean()));
        Assert.Equal("done", events[^1].GetProperty("event").GetString());
        Assert.DoesNotContain('\r', json.Stderr);

        var quiet = Ok(Upscale(inputs, dir.File("o3"), "-q"));
        Assert.Equal("", quiet.Stderr);
    }

    [Fact]
    public void Errors_are_one_clean_line_each_and_the_stage_table_only_on_success_or_verbose()
    {
        using var dir = new TempDir();
        string inputs = dir.File("in");
        Directory.CreateDirectory(inputs);
        File.Copy(Input("lq_a.png"), Path.Combine(inputs, "a.png"));
        // A hostile name and content: a right-to-left override and raw bytes must never reach the terminal.
        File.WriteAllBytes(Path.Combine(inputs, "b\u202Egnp.png"), [0x89, 0x50, 0x4E, 0x47, 0x00, 0x1B, 0x5B, 0x32, 0x4A, 0xFF]);
        var r = PisaProcess.Run(Upscale(inputs, dir.File("out")));
        Assert.Equal(1, r.ExitCode);
        Assert.DoesNotContain('\u202E', r.Stderr);
        Assert.DoesNotContain('\u001B', r.Stderr);
        Assert.DoesNotContain('\0', r.Stderr);
        Assert.Contains("\\u202E", r.Stderr);
        Assert.Equal(2, r.StderrLines.Length);   // the failed input, then the summary
        Assert.Contains("1 of 2 input(s) failed", r.StderrLines[^1]);
        Assert.DoesNotContain("stage times", r.Stderr);
        var v = PisaProcess.Run([.. Upscale(inputs, dir.File("out2")), "-v"]);
        Assert.Equal(1, v.ExitCode);
        Assert.Contains("stage times", v.Stderr);
    }

    [Fact]
    public void Option_values_ignore_case_typos_get_suggestions_and_at_is_a_file_name()
    {
        using var dir = new TempDir();
        string at = dir.File("@a.png");
        File.Copy(Input("lq_a.png"), at);
        // '@a.png' is an input, not a response file; --mode Fused and --color-fix ADAIN are accepted; -s and -t are aliases.
        Ok(Upscale(at, dir.File("o.png"), "--mode", "Fused", "--color-fix", "ADAIN", "-s", "4", "-t", "96"));
        Assert.True(File.Exists(dir.File("o.png")));

        PisaProcess.AssertOneLineError(PisaProcess.Run("upscal", "x.png"), "did you mean 'upscale'", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. Upscale(at, dir.File("p.png")), "--lamda-pix", "0.5"]), "did you mean '--lambda-pix'", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run([.. Upscale(at, dir.File("p.png")), "--mode", "fast"]), "fast", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run("bench", "--runs", "many"), "many", exitCode: 2);
        PisaProcess.AssertOneLineError(PisaProcess.Run("selftest", "--no-such-flag"), "--no-such-flag", exitCode: 2);
    }
}
