using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Engine.Api;

/// <summary>
/// The fidelity/detail grid of one call (adjustable mode): one output per (lambda_pix, lambda_sem) pair, rows
/// <see cref="Pix"/> and columns <see cref="Sem"/> in the order given. The VAE encoder and the two UNet passes
/// run once; each pair's image equals a separate call at that pair bit for bit.
/// </summary>
public sealed record LambdaGrid(IReadOnlyList<float> Pix, IReadOnlyList<float> Sem)
{
    /// <summary>The pairs row by row: (Pix[0], Sem[0]), (Pix[0], Sem[1]), ...</summary>
    public IReadOnlyList<(float Pix, float Sem)> Pairs { get; } = [.. Pix.SelectMany(p => Sem.Select(s => (p, s)))];
}

/// <summary>What a call asks beyond <see cref="UpscaleOptions"/>; the default is one plain image.</summary>
public sealed record UpscaleCall
{
    public static UpscaleCall Plain { get; } = new();

    /// <summary>A lambda grid (adjustable mode only), or null for one image at the options' lambdas.</summary>
    public LambdaGrid? Grid { get; init; }
    /// <summary>Also return the intermediates, named as in the golden fixtures (one-image calls only).</summary>
    public bool KeepTensors { get; init; }
    /// <summary>Write a greyscale input's result as RGB instead of grey.</summary>
    public bool KeepRgb { get; init; }
    /// <summary>When set, the call's peak is estimated before any compute (weights as the backend holds them,
    /// activations at the tiling, host images) and the call is refused above this budget, or, with
    /// <see cref="AutoTiling"/>, run at smaller tiles that fit.</summary>
    public MemoryBudget? Memory { get; init; }
    /// <summary>The tiling was not chosen by the caller: the memory check may pick smaller tiles (and says so).</summary>
    public bool AutoTiling { get; init; }
    /// <summary>Receives the memory check's one-line notices (tiling chosen), on the backend worker.</summary>
    public Action<string>? Notice { get; init; }
    /// <summary>Receives the memory check's plan (the tiling the call runs with, its estimated peak) before the
    /// run starts, on the backend worker.</summary>
    public Action<MemoryEstimate>? Planned { get; init; }

    internal void Validate(UpscaleOptions o)
    {
        if (Grid == null) return;
        if (o.Mode != LoraMode.Adjustable) throw new PisaException("a lambda grid needs the adjustable mode");
        if (Grid.Pairs.Count == 0) throw new PisaException("a lambda grid needs at least one value of each lambda");
        if (KeepTensors) throw new PisaException("the intermediates are kept for one image: not with a lambda grid");
    }
}

/// <summary>
/// Where <see cref="PisaUpscaler.UpscaleFileAsync(string, UpscaleFileTargets, UpscaleOptions?, UpscaleCall?, IProgress{UpscaleProgress}?, CancellationToken)"/>
/// writes: one file per output (one, or one per grid pair in <see cref="LambdaGrid.Pairs"/> order), and for a grid
/// optionally a contact sheet (PNG). Every file is written to a temporary name and renamed once complete.
/// </summary>
public sealed record UpscaleFileTargets
{
    public required IReadOnlyList<string> Outputs { get; init; }
    /// <summary>A grid's contact sheet: one row per lambda_pix, one column per lambda_sem, 8-pixel white gaps.</summary>
    public string? ContactSheet { get; init; }
    /// <summary>Format, quality and bit depth of <see cref="Outputs"/>; null: each output's format by its extension.</summary>
    public EncodeOptions? Encode { get; init; }

    public static UpscaleFileTargets One(string output) => new() { Outputs = [output] };
}
