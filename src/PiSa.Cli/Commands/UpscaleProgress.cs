using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace PiSa.Cli.Commands;

/// <summary>How `pisa upscale` reports progress (<c>--progress</c>).</summary>
public enum ProgressMode
{
    /// <summary>A bar redrawn with carriage returns, only when stderr is a terminal; nothing otherwise.</summary>
    Auto,
    /// <summary>One JSON object per line on stderr per event, for GUIs and scripts.</summary>
    Json,
    /// <summary>No progress output.</summary>
    None,
}

/// <summary>
/// Progress of an upscale run on stderr: per image, per pipeline stage and per latent tile. The bar is drawn only
/// on a terminal (carriage-return frames never reach a redirected stderr); JSON events are
/// <c>{"event":"plan"|"stage"|"tile"|"image"|"done", "image":i, "images":n, "file":..., "stage":..., "tile":i, "tiles":n,
/// "ok":bool, "elapsed_s":t}</c>, image and tile counted from 1 (a tile event is sent when that tile is done).
/// </summary>
public sealed class UpscaleProgress : IProgress<Engine.Pipeline.UpscaleProgress>
{
    private readonly ProgressMode _mode;
    private readonly bool _bar;
    private readonly int _total;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _image;
    private string _file = "", _stage = "", _tile = "";
    private bool _open;

    public UpscaleProgress(ProgressMode mode, int total)
    {
        _mode = mode;
        _total = total;
        _bar = mode == ProgressMode.Auto && !Console.IsErrorRedirected;
    }

    public void ImageStart(int index, string file)
    {
        _image = index + 1;
        _file = file;
        _stage = _tile = "";
        Draw();
    }

    public void Stage(string stage)
    {
        _stage = stage;
        _tile = "";
        if (_mode == ProgressMode.Json) Event("stage", w => w.WriteString("stage", stage));
        Draw();
    }

    /// <summary>Latent tile <paramref name="done"/> (from 1) of <paramref name="count"/> finished.</summary>
    public void Tile(int done, int count)
    {
        _tile = $" tile {done}/{count}";
        if (_mode == ProgressMode.Json) Event("tile", w => { w.WriteString("stage", _stage); w.WriteNumber("tile", done); w.WriteNumber("tiles", count); });
        Draw();
    }

    /// <summary>The library's progress events arrive here (on the backend worker, or the caller's thread for
    /// decode and save; one image at a time, so never two at once): each stage's start and the UNet's latent tiles
    /// as they finish. VAE tiles are not shown.</summary>
    void IProgress<Engine.Pipeline.UpscaleProgress>.Report(Engine.Pipeline.UpscaleProgress p)
    {
        if (p.Tile == 0) Stage(p.Stage);
        else if (p.Stage == "unet") Tile(p.Tile, p.Tiles);
    }

    /// <summary>The memory plan of the current image (JSON only): the tiling it runs with (a latent tile of 0 means
    /// untiled) and the estimated peak against the budget, so a script sees what `-t 0` chose.</summary>
    public void Planned(Engine.Pipeline.MemoryEstimate plan, long budgetBytes)
    {
        if (_mode != ProgressMode.Json) return;
        var o = plan.Options;
        int lh = plan.ModelHeight / 8, lw = plan.ModelWidth / 8;
        bool tiled = Engine.Pipeline.LatentTiling.IsActive(lh, lw, o.LatentTile);
        Event("plan", w =>
        {
            w.WriteNumber("latent_tile", tiled ? Math.Min(o.LatentTile, Math.Min(lh, lw)) : 0);
            w.WriteNumber("latent_overlap", tiled ? o.LatentOverlap : 0);
            w.WriteNumber("vae_encoder_tile", o.VaeEncoderTile);
            w.WriteNumber("vae_decoder_tile", o.VaeDecoderTile);
            w.WriteNumber("estimated_bytes", plan.Total);
            w.WriteNumber("budget_bytes", budgetBytes);
        });
    }

    public void ImageDone(bool ok)
    {
        if (_mode == ProgressMode.Json) Event("image", w => w.WriteBoolean("ok", ok));
    }

    // `--list` keeps two images in flight (the next decodes while the backend runs the current one): their events
    // come from two threads, so they take this lock and name their image.
    private readonly object _lock = new();

    /// <summary>The progress of image <paramref name="index"/> of a batch with several in flight: each event is
    /// reported as that image's.</summary>
    public IProgress<Engine.Pipeline.UpscaleProgress> For(int index, string file) => new Tagged(this, index, file);

    private sealed class Tagged(UpscaleProgress owner, int index, string file) : IProgress<Engine.Pipeline.UpscaleProgress>
    {
        public void Report(Engine.Pipeline.UpscaleProgress p)
        {
            lock (owner._lock)
            {
                owner.Select(index, file);
                ((IProgress<Engine.Pipeline.UpscaleProgress>)owner).Report(p);
            }
        }
    }

    private void Select(int index, string file)
    {
        if (_image == index + 1 && _file == file) return;
        _image = index + 1;
        _file = file;
        _stage = _tile = "";
    }

    /// <summary><see cref="ImageDone(bool)"/> for image <paramref name="index"/> of a batch with several in flight.</summary>
    public void ImageDone(int index, string file, bool ok)
    {
        lock (_lock)
        {
            Select(index, file);
            ImageDone(ok);
        }
    }

    /// <summary><see cref="Planned(Engine.Pipeline.MemoryEstimate, long)"/> for image <paramref name="index"/> of a batch with several in flight.</summary>
    public void Planned(int index, string file, Engine.Pipeline.MemoryEstimate plan, long budgetBytes)
    {
        lock (_lock)
        {
            Select(index, file);
            Planned(plan, budgetBytes);
        }
    }

    /// <summary>A line of its own on stderr, the bar's line ended first; safe beside events of images in flight.</summary>
    public void Say(string line)
    {
        lock (_lock)
        {
            Interrupt();
            Console.Error.WriteLine(line);
        }
    }

    /// <summary>Before printing a line of its own: ends the bar's line so the message starts clean.</summary>
    public void Interrupt()
    {
        if (_open) Console.Error.WriteLine();
        _open = false;
    }

    public void Finish(int failed)
    {
        if (_bar && _open)
        {
            Console.Error.Write($"\r{Pad($"[{new string('#', 24)}] {_total}/{_total} done")}\n");
            _open = false;
        }
        if (_mode == ProgressMode.Json) Event("done", w => w.WriteNumber("failed", failed));
    }

    private void Draw()
    {
        if (!_bar) return;
        const int width = 24;
        int filled = _total == 0 ? width : (_image - 1) * width / _total;
        Console.Error.Write($"\r{Pad($"[{new string('#', filled)}{new string('.', width - filled)}] {_image}/{_total} {_file} {_stage}{_tile}")}");
        _open = true;
    }

    private static string Pad(string s) => s.Length >= 79 ? s[..79] : s.PadRight(79);

    private void Event(string kind, Action<Utf8JsonWriter> fields)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("event", kind);
            w.WriteNumber("image", _image);
            w.WriteNumber("images", _total);
            w.WriteString("file", _file);
            fields(w);
            w.WriteNumber("elapsed_s", Math.Round(_clock.Elapsed.TotalSeconds, 3));
            w.WriteEndObject();
        }
        Console.Error.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }
}

/// <summary>The per-stage time table printed after a run.</summary>
internal static class StageTable
{
    public static void Print(TextWriter w, Engine.Pipeline.StageTimer timer, double loadMs, int images, string backend)
    {
        w.WriteLine($"stage times on {backend} ({images} image(s); model load {loadMs.ToString("F0", CultureInfo.InvariantCulture)} ms):");
        w.WriteLine($"  {"stage",-14} {"total ms",10} {"per image",10}");
        foreach (var (stage, total, count) in timer.Stages)
            w.WriteLine($"  {stage,-14} {total.ToString("F1", CultureInfo.InvariantCulture),10} {(total / Math.Max(1, images)).ToString("F1", CultureInfo.InvariantCulture),10}");
        w.WriteLine($"  {"total",-14} {timer.TotalMs.ToString("F1", CultureInfo.InvariantCulture),10} {(timer.TotalMs / Math.Max(1, images)).ToString("F1", CultureInfo.InvariantCulture),10}");
    }
}
