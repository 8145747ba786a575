namespace PiSa.Engine.Pipeline;

/// <summary>Where one image is: the pipeline stage ("preprocess", "text encoder", "vae encode", "unet",
/// "vae decode", "postprocess") and, inside a tiled stage, the tile just finished (Tile of Tiles; 0 of 1 when
/// the stage starts, 1 of 1 for an untiled stage that ended).</summary>
public readonly record struct UpscaleProgress(string Stage, int Tile, int Tiles);

/// <summary>
/// What a caller hands the pipeline for one run: a cancellation token, checked between stages, tiles and model
/// blocks (a cancelled run throws <see cref="OperationCanceledException"/> at the next check, and every tensor it
/// held is disposed on the way out), and an optional progress sink. <see cref="None"/> is the plain run.
/// </summary>
public sealed class RunHooks(CancellationToken cancellationToken = default, IProgress<UpscaleProgress>? progress = null)
{
    public static RunHooks None { get; } = new();

    public CancellationToken Token { get; } = cancellationToken;

    public void ThrowIfCancelled() => Token.ThrowIfCancellationRequested();

    /// <summary>A stage begins: check for cancellation, then report (stage, 0, 1).</summary>
    public void StageStarted(string stage)
    {
        ThrowIfCancelled();
        progress?.Report(new UpscaleProgress(stage, 0, 1));
    }

    /// <summary>Tile <paramref name="done"/> of <paramref name="total"/> of a stage finished; then check.</summary>
    public void TileDone(string stage, int done, int total)
    {
        progress?.Report(new UpscaleProgress(stage, done, total));
        ThrowIfCancelled();
    }
}
