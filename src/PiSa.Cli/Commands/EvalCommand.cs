using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using PiSa.Engine;
using PiSa.Engine.Eval;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa eval SR_DIR GT_DIR [--crop-border N] [--format table|csv|json] [-o FILE]`: PSNR and SSIM on the Y channel
/// per image and their mean, with pyiqa's conventions (<see cref="QualityMetrics"/>). Each image of SR_DIR is paired
/// with the image of GT_DIR of the same file stem (extensions may differ). A missing partner or a size mismatch is
/// reported and counted; the exit code is 1 if any pair failed.
/// </summary>
public static class EvalCommand
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".tga"];

    public sealed record Row(string Name, double PsnrY, double SsimY);

    public static Command Build()
    {
        var sr = new Argument<string>("SR_DIR") { Description = "folder of super-resolved images" };
        var gt = new Argument<string>("GT_DIR") { Description = "folder of ground-truth images (same file stems)" };
        var crop = new Option<int>("--crop-border") { Description = "pixels removed from every side before measuring (often the scale factor)", DefaultValueFactory = _ => 0 };
        var format = new Option<string>("--format") { Description = "table, csv or json", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong("table", "csv", "json");
        var output = new Option<string?>("--output", "-o") { Description = "write the report to this file (atomically) instead of stdout" };
        var cmd = new Command("eval", "PSNR and SSIM on the Y channel (pyiqa's psnry / ssim conventions) of SR images against ground truth.")
        {
            sr, gt, crop, format, output,
        };
        cmd.SetAction(r => Run(r.GetValue(sr)!, r.GetValue(gt)!, r.GetValue(crop), r.GetValue(format)!, r.GetValue(output)));
        return cmd;
    }

    public static int Run(string srDir, string gtDir, int cropBorder, string format, string? output)
    {
        if (cropBorder < 0) throw new PisaException($"--crop-border must not be negative, got {cropBorder}");
        var srFiles = Images(srDir, "SR_DIR");
        var gtByStem = Images(gtDir, "GT_DIR").GroupBy(Path.GetFileNameWithoutExtension).ToDictionary(g => g.Key!, g => g.ToList(), StringComparer.Ordinal);
        var rows = new List<Row>();
        int failed = 0;
        foreach (var file in srFiles)
        {
            string stem = Path.GetFileNameWithoutExtension(file);
            try
            {
                if (!gtByStem.TryGetValue(stem, out var partners)) throw new PisaException($"no ground truth named {stem}.* in {gtDir}");
                if (partners.Count > 1) throw new PisaException($"several ground truths named {stem}.* in {gtDir}");
                var a = ImageIO.Load(file);
                var b = ImageIO.Load(partners[0]);
                rows.Add(new Row(Path.GetFileName(file), QualityMetrics.PsnrY(a, b, cropBorder), QualityMetrics.SsimY(a, b, cropBorder)));
            }
            catch (PisaException e)
            {
                failed++;
                Console.Error.WriteLine($"pisa: error: {Path.GetFileName(file)}: {Program.OneLine(e.Message)}");
            }
        }
        string report = format switch { "csv" => Csv(rows), "json" => Json(rows, cropBorder), _ => Table(rows, cropBorder) };
        if (output == null) Console.Out.Write(report);
        else AtomicFile.Write(output, s => s.Write(Encoding.UTF8.GetBytes(report)));
        if (failed > 0)
        {
            Console.Error.WriteLine($"pisa: {failed} of {srFiles.Count} image(s) could not be measured");
            return Program.ExitFailed;
        }
        return Program.ExitOk;
    }

    private static List<string> Images(string dir, string what)
    {
        if (!Directory.Exists(dir)) throw new PisaException($"{what} {dir} is not a folder");
        var files = Directory.EnumerateFiles(dir).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new PisaException($"{what} {dir} holds no PNG, JPEG, BMP or TGA images");
        return files;
    }

    private static string F(double v, string fmt) => v.ToString(fmt, CultureInfo.InvariantCulture);

    private static (double Psnr, double Ssim) Mean(List<Row> rows) =>
        rows.Count == 0 ? (double.NaN, double.NaN) : (rows.Average(r => r.PsnrY), rows.Average(r => r.SsimY));

    private static string Table(List<Row> rows, int crop)
    {
        var sb = new StringBuilder();
        int width = Math.Max(5, rows.Count == 0 ? 0 : rows.Max(r => r.Name.Length));
        sb.Append($"{"image".PadRight(width)}  {"PSNR-Y dB",10}  {"SSIM-Y",8}\n");
        foreach (var r in rows) sb.Append($"{r.Name.PadRight(width)}  {F(r.PsnrY, "F4"),10}  {F(r.SsimY, "F6"),8}\n");
        var (mp, ms) = Mean(rows);
        sb.Append($"{"mean".PadRight(width)}  {F(mp, "F4"),10}  {F(ms, "F6"),8}\n");
        sb.Append($"({rows.Count} image(s), crop border {crop}; Y = 0.299R+0.587G+0.114B as pyiqa psnry/ssim)\n");
        return sb.ToString();
    }

    private static string Csv(List<Row> rows)
    {
        var sb = new StringBuilder("image,psnr_y,ssim_y\n");
        foreach (var r in rows) sb.Append($"{CsvField(r.Name)},{F(r.PsnrY, "R")},{F(r.SsimY, "R")}\n");
        var (mp, ms) = Mean(rows);
        sb.Append($"mean,{F(mp, "R")},{F(ms, "R")}\n");
        return sb.ToString();
    }

    private static string CsvField(string s) => s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";

    private static string Json(List<Row> rows, int crop)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("convention", "pyiqa psnry/ssim: Y = 0.299R+0.587G+0.114B; PSNR on [0,1]; SSIM on rounded [0,255], 11x11 Gaussian sigma 1.5, valid");
            w.WriteNumber("crop_border", crop);
            w.WriteStartArray("images");
            foreach (var r in rows)
            {
                w.WriteStartObject();
                w.WriteString("image", r.Name);
                w.WriteNumber("psnr_y", r.PsnrY);
                w.WriteNumber("ssim_y", r.SsimY);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            var (mp, mssim) = Mean(rows);
            w.WriteStartObject("mean");
            if (rows.Count > 0) { w.WriteNumber("psnr_y", mp); w.WriteNumber("ssim_y", mssim); }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
