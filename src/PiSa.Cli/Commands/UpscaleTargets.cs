using System.Globalization;
using PiSa.Engine;
using PiSa.Engine.Formats;
using PiSa.Engine.Imaging;

namespace PiSa.Cli.Commands;

/// <summary>One input and every file it will write (one image, or a grid's images and its contact sheet).</summary>
public sealed record UpscaleJob(string Input, string Output, ImageFormat Format, IReadOnlyList<string> Outputs)
{
    /// <summary>For a grid: the file of pair k (same order as the pairs); otherwise <see cref="Output"/>.</summary>
    public string PairOutput(int k) => Outputs[k];
    public string? SheetOutput(bool grid) => grid ? Outputs[^1] : null;
}

/// <summary>
/// Where every input goes, worked out and checked before any model is loaded: inputs expanded (folders to their
/// images, with -r the whole tree, mirrored under the output folder), output names (format by extension or
/// <c>-f</c>), a grid's per-pair names and contact sheet, and then every output folder probed for writability,
/// no output allowed to land on an input, no two inputs on one output.
/// </summary>
public static class UpscaleTargets
{
    public static List<UpscaleJob> Plan(string[] inputArgs, string output, bool recursive, ImageFormat? format,
        IReadOnlyList<(float Pix, float Sem)>? grid)
    {
        var inputs = ExpandInputs(inputArgs, recursive);
        bool many = inputs.Count > 1 || inputArgs.Any(Directory.Exists);
        var jobs = new List<UpscaleJob>();
        // "-o out/" names a folder (created) even for one input.
        bool folder = many || Directory.Exists(output) || output.EndsWith('/') || output.EndsWith(Path.DirectorySeparatorChar);
        if (!folder)
        {
            var f = format ?? ImageIO.FormatFromPath(output);
            string dir = Path.GetDirectoryName(Path.GetFullPath(output))!;
            if (!Directory.Exists(dir)) throw new PisaException($"output folder '{dir}' does not exist");
            jobs.Add(Job(inputs[0].Path, output, f, grid));
        }
        else
        {
            if (File.Exists(output)) throw new UsageException($"-o {output} is a file, but several inputs need an output folder");
            if (!Directory.Exists(output) && ImageFormats.FromExtension(Path.GetExtension(output.TrimEnd('/'))) != null && many)
                throw new UsageException($"-o {output} looks like an image file, but {inputs.Count} inputs need an output folder");
            foreach (var (path, relative) in inputs)
            {
                var own = ImageFormats.FromExtension(Path.GetExtension(relative));
                // An input in a format we do not write (GIF) becomes a PNG.
                var f = format ?? own ?? ImageFormat.Png;
                string name = format != null || own == null ? Path.ChangeExtension(relative, ImageFormats.Extension(f)) : relative;
                jobs.Add(Job(path, Path.Combine(output, name), f, grid));
            }
        }
        Check(jobs, inputs.Select(i => i.Path));
        return jobs;
    }

    /// <summary>The job of one input written to <paramref name="output"/>: that file, or a grid's per-pair files
    /// (NAME_pix{a}_sem{b}.EXT) and its contact sheet (NAME_grid.png). Shared with `--list`.</summary>
    public static UpscaleJob Job(string input, string output, ImageFormat format, IReadOnlyList<(float Pix, float Sem)>? grid)
    {
        if (grid == null) return new UpscaleJob(input, output, format, [output]);
        string dir = Path.GetDirectoryName(output) ?? "", stem = Path.GetFileNameWithoutExtension(output), ext = Path.GetExtension(output);
        var outputs = grid.Select(p => Path.Combine(dir, $"{stem}_pix{Lambda(p.Pix)}_sem{Lambda(p.Sem)}{ext}")).ToList();
        outputs.Add(Path.Combine(dir, $"{stem}_grid.png"));
        return new UpscaleJob(input, output, format, outputs);
    }

    /// <summary>A lambda as it appears in file names: shortest invariant form (0.5, 1, 1.25).</summary>
    public static string Lambda(float v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>No output on an input, no two on one file, none a folder; every output folder created and probed.</summary>
    public static void Check(List<UpscaleJob> jobs, IEnumerable<string> inputs)
    {
        var inputSet = new HashSet<string>(inputs.Select(Path.GetFullPath), StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var job in jobs)
            foreach (var o in job.Outputs)
            {
                string full = Path.GetFullPath(o);
                if (inputSet.Contains(full)) throw new UsageException($"output {o} is an input: refusing to write over it");
                if (!seen.Add(full)) throw new UsageException($"two results would both be written to {o}");
                if (Directory.Exists(full)) throw new PisaException($"output {o} is a folder");
            }
        foreach (var dir in seen.Select(p => Path.GetDirectoryName(p)!).Distinct(StringComparer.Ordinal))
        {
            Directory.CreateDirectory(dir);
            ProbeWritable(dir);
        }
    }

    /// <summary>Creates and removes a file in the folder, so an unwritable output fails now, not after the compute.</summary>
    public static void ProbeWritable(string dir)
    {
        // A temporary's name: one left by a killed run is cleaned like any other.
        string probe = AtomicFile.TempPathFor(Path.Combine(dir, "pisa-probe"));
        try
        {
            using (new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PisaException($"output folder '{dir}' is not writable: {e.Message}", e);
        }
    }

    /// <summary>Files as given; folders expand to their images (with <paramref name="recursive"/>, the whole tree),
    /// sorted by relative path; each with its path relative to the folder it came from.</summary>
    public static List<(string Path, string Relative)> ExpandInputs(IEnumerable<string> args, bool recursive)
    {
        var list = new List<(string, string)>();
        foreach (var a in args)
        {
            if (Directory.Exists(a))
            {
                var files = Directory.EnumerateFiles(a, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
                    .Where(f => ImageFormats.InputExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                    .Where(f => !Path.GetFileName(f).StartsWith(AtomicFile.TempPrefix, StringComparison.Ordinal))
                    .Select(f => (f, Path.GetRelativePath(a, f)))
                    .OrderBy(f => f.Item2, StringComparer.Ordinal).ToList();
                if (files.Count == 0) throw new PisaException($"input folder {a} holds no images ({string.Join(", ", ImageFormats.InputExtensions)})");
                list.AddRange(files);
            }
            else if (File.Exists(a)) list.Add((a, Path.GetFileName(a)));
            else throw new PisaException($"input not found: {a}");
        }
        return list;
    }
}
