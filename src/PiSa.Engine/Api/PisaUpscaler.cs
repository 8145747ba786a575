using System.Diagnostics;
using PiSa.Engine.Backends;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Engine.Api;

/// <summary>
/// The engine's one door: loads the model once on one backend, then upscales images for any number of callers.
///
/// Concurrency model: every call may come from any thread. Decoding and encoding image files run on the
/// caller's side (the thread pool); the backend work (SPEC section 3 steps 5-11) of all calls runs on one
/// worker thread owned by this object, one image at a time, first come first served. So GPU work is ordered
/// on the backend's stream, model caches (prompt embeddings, LoRA weight sets) need no locks, and a second
/// caller simply waits its turn (<see cref="Pending"/> says how many calls wait or run). For more throughput on
/// one GPU, batch at the caller; for several GPUs, run one process per GPU.
///
/// Cancellation: a call cancelled while it waits never starts; one cancelled while it runs stops at the next
/// check (between stages, tiles and model blocks), frees every tensor it held, and its task ends cancelled.
/// Progress: <see cref="UpscaleProgress"/> per stage start and per finished tile, reported on the worker thread.
/// Disposal lets the calls already queued finish, then frees the model and the backend.
/// </summary>
public sealed class PisaUpscaler : IDisposable, IAsyncDisposable
{
    private readonly PisaModel _model;
    private readonly IOps _ops;
    private readonly bool _owns;
    private readonly UpscalePipeline _pipeline;
    private readonly BackendWorker _worker;
    private int _disposed;

    private PisaUpscaler(PisaModel model, IOps ops, bool owns)
    {
        _model = model;
        _ops = ops;
        _owns = owns;
        _pipeline = new UpscalePipeline(model);
        _worker = new BackendWorker("pisa-backend");
    }

    /// <summary>Loads the model (and picks the backend) once; a missing or inconsistent file is a <see cref="PisaException"/>.</summary>
    public static PisaUpscaler Load(PisaUpscalerOptions options)
    {
        var ops = BackendFactory.Create(options.Device, options.Notice, options.Gpu, options.Precision);
        try
        {
            long t0 = Stopwatch.GetTimestamp();
            var model = PisaModel.Load(options.ModelDir, options.LoraPath, ops, options.WeightSetBudgetBytes);
            return new PisaUpscaler(model, ops, owns: true) { LoadMilliseconds = Stopwatch.GetElapsedTime(t0).TotalMilliseconds };
        }
        catch
        {
            ops.Dispose();
            throw;
        }
    }

    /// <inheritdoc cref="Load"/>
    public static Task<PisaUpscaler> LoadAsync(PisaUpscalerOptions options, CancellationToken cancellationToken = default) =>
        Task.Run(() => Load(options), cancellationToken);

    /// <summary>Wraps a model built elsewhere (random-weight models, tests). With <paramref name="ownsModel"/> the
    /// model and its backend are disposed with this object.</summary>
    public static PisaUpscaler FromModel(PisaModel model, bool ownsModel) => new(model, model.Ops, ownsModel);

    /// <summary>Time <see cref="Load"/> took to load the model (after the backend was chosen); 0 for <see cref="FromModel"/>.</summary>
    public double LoadMilliseconds { get; private init; }
    /// <summary>"cpu" or "cuda".</summary>
    public string Backend => _ops.Name;
    /// <summary>Calls waiting for the worker or running on it.</summary>
    public int Pending => _worker.Pending;
    /// <summary>The backend's peak device memory, when it reports one.</summary>
    public long? PeakDeviceBytes => Bench.BenchRunner.PeakDeviceBytes(_ops);

    /// <summary>Upscales decoded pixels. <paramref name="keepTensors"/> also returns the intermediates.</summary>
    public Task<UpscaleOutcome> UpscaleAsync(RgbImage input, UpscaleOptions? options = null,
        IProgress<UpscaleProgress>? progress = null, CancellationToken cancellationToken = default, bool keepTensors = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        return UpscaleAsync(new SourceImage { Rgb = input }, options, keepTensors ? new UpscaleCall { KeepTensors = true } : null,
            progress, cancellationToken);
    }

    /// <summary>
    /// The one call every other door ends in: upscales a decoded image as its file held it (alpha, grey, 16-bit,
    /// metadata are carried to the results) with the extras of <paramref name="call"/> (a lambda grid, the
    /// intermediates, a memory check). Runs on the backend worker in turn with the other calls.
    /// </summary>
    public Task<UpscaleOutcome> UpscaleAsync(SourceImage input, UpscaleOptions? options, UpscaleCall? call,
        IProgress<UpscaleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        options ??= new UpscaleOptions();
        call ??= UpscaleCall.Plain;
        // A bad option fails at once, not after waiting in the queue. An automatic latent tile (-t 0) needs the
        // memory check, which resolves it from the budget.
        options.Validate(latentTileMayBeAutomatic: call.Memory != null);
        call.Validate(options);
        long queued = Stopwatch.GetTimestamp();
        return RunAsync((pipeline, ct) =>
        {
            double queueMs = Stopwatch.GetElapsedTime(queued).TotalMilliseconds;
            var o = options;
            var grid = call.Grid?.Pairs;
            if (call.Memory is { } budget)
            {
                var plan = MemoryPlanner.Plan(ModelFootprint.Of(_model), _ops.Name, input.Width, input.Height, o, budget, call.AutoTiling,
                    call.Notice, HostImages.Of(input, grid?.Count ?? 1), (_ops as Backends.Cuda.CudaOps)?.DeviceBudgetBytes);
                call.Planned?.Invoke(plan);
                o = plan.Options;
            }
            var before = pipeline.Timer.Stages.ToDictionary(s => s.Stage, s => (s.TotalMs, s.Count));
            int notices = pipeline.Notices.Count;
            var cold = ColdBefore(input, o);
            long t0 = Stopwatch.GetTimestamp();
            var results = pipeline.RunSource(input, o, grid, call.KeepTensors, call.KeepRgb, new RunHooks(ct, progress));
            double runMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            // The pipeline's timer sums over calls; this call's share is the difference (stages it ran).
            var stages = pipeline.Timer.Stages
                .Where(s => s.Count > before.GetValueOrDefault(s.Stage).Count)
                .Select(s => new StageTime(s.Stage, s.TotalMs - before.GetValueOrDefault(s.Stage).TotalMs)).ToList();
            return new UpscaleOutcome
            {
                Results = results,
                Stages = stages,
                QueueMilliseconds = queueMs,
                RunMilliseconds = runMs,
                ModelMilliseconds = pipeline.LastLatentMilliseconds,
                Cold = cold(),
                Notices = pipeline.Notices.Skip(notices).ToList(),
                Tensors = results[0].Tensors,
            };
        }, cancellationToken);
    }

    // The input shape (and tiling) of the previous call: the pipeline drops its per-shape caches when it changes.
    private (int W, int H, UpscaleOptions Shape)? _lastShape;

    /// <summary>On the worker, before a run: a function that, after it, names what made the run cold.</summary>
    private Func<IReadOnlyList<string>> ColdBefore(SourceImage input, UpscaleOptions o)
    {
        int prompts = _model.PromptEncodes, builds = _model.WeightSets.Builds;
        // What the backend's per-shape state depends on: the size and the tiling, not the mode, lambdas or prompt
        // (a new weight set is its own reason).
        var shape = (input.Width, input.Height, o with { Mode = LoraMode.Default, LambdaPix = 0, LambdaSem = 0, Prompt = "", ColorFix = ColorFixMethod.None });
        bool newShape = _lastShape != shape;
        _lastShape = shape;
        return () =>
        {
            var why = new List<string>();
            if (_model.PromptEncodes != prompts) why.Add("prompt encoded");
            if (_model.WeightSets.Builds != builds) why.Add("weight set built");
            if (newShape) why.Add("new input size");
            return why;
        };
    }

    /// <summary>Upscales an encoded image (PNG, JPEG, BMP, TGA...); a damaged one is a <see cref="PisaException"/>
    /// naming <paramref name="nameForErrors"/>.</summary>
    public async Task<UpscaleOutcome> UpscaleAsync(byte[] encoded, UpscaleOptions? options = null, IProgress<UpscaleProgress>? progress = null,
        CancellationToken cancellationToken = default, string nameForErrors = "image")
    {
        var image = await Task.Run(() => ImageIO.Decode(encoded, nameForErrors), cancellationToken).ConfigureAwait(false);
        return await UpscaleAsync(image, options, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads an encoded image from <paramref name="input"/> (at most <paramref name="maxBytes"/>) and writes
    /// the result to <paramref name="output"/> in <paramref name="format"/>.</summary>
    public async Task<UpscaleOutcome> UpscaleAsync(Stream input, Stream output, ImageFormat format, UpscaleOptions? options = null,
        IProgress<UpscaleProgress>? progress = null, CancellationToken cancellationToken = default, long maxBytes = 256L << 20)
    {
        var encoded = await ReadBounded(input, maxBytes, cancellationToken).ConfigureAwait(false);
        var outcome = await UpscaleAsync(encoded, options, progress, cancellationToken).ConfigureAwait(false);
        var bytes = await Task.Run(() => Encode(outcome.Image, format), cancellationToken).ConfigureAwait(false);
        await output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        return outcome;
    }

    /// <summary>Upscales an image file into <paramref name="outputPath"/> (format by extension, written to a
    /// temporary name and renamed: a failed or cancelled call leaves no partial file).</summary>
    public Task<UpscaleOutcome> UpscaleFileAsync(string inputPath, string outputPath, UpscaleOptions? options = null,
        IProgress<UpscaleProgress>? progress = null, CancellationToken cancellationToken = default, bool keepTensors = false) =>
        UpscaleFileAsync(inputPath, UpscaleFileTargets.One(outputPath), options,
            keepTensors ? new UpscaleCall { KeepTensors = true } : null, progress, cancellationToken);

    /// <summary>
    /// An image file in, files out, as `pisa upscale` writes them: decoded with every bound of the image decoder
    /// (EXIF orientation applied; alpha, grey, 16-bit and metadata kept), upscaled by
    /// <see cref="UpscaleAsync(SourceImage, UpscaleOptions?, UpscaleCall?, IProgress{UpscaleProgress}?, CancellationToken)"/>,
    /// each result written to a temporary name and renamed (a failed or cancelled call leaves no partial file).
    /// Progress adds the stages "decode" (first) and "save" (last), and so do the outcome's stage times.
    /// </summary>
    public async Task<UpscaleOutcome> UpscaleFileAsync(string inputPath, UpscaleFileTargets targets, UpscaleOptions? options = null,
        UpscaleCall? call = null, IProgress<UpscaleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(targets);
        int expected = call?.Grid?.Pairs.Count ?? 1;
        if (targets.Outputs.Count != expected)
            throw new ArgumentException($"{targets.Outputs.Count} output path(s) for {expected} result(s)", nameof(targets));
        // An unusable output name fails before any work.
        var formats = targets.Outputs.Select(p => targets.Encode ?? new EncodeOptions { Format = ImageIO.FormatFromPath(p) }).ToList();
        if (targets.ContactSheet != null) ImageIO.FormatFromPath(targets.ContactSheet);

        progress?.Report(new UpscaleProgress("decode", 0, 1));
        long t0 = Stopwatch.GetTimestamp();
        var image = await Task.Run(() => ImageDecoder.Load(inputPath), cancellationToken).ConfigureAwait(false);
        double decodeMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        var outcome = await UpscaleAsync(image, options, call, progress, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();

        progress?.Report(new UpscaleProgress("save", 0, 1));
        t0 = Stopwatch.GetTimestamp();
        var saved = await Task.Run(() =>
        {
            var done = new List<ImageEncoder.Outcome>();
            for (int k = 0; k < outcome.Results.Count; k++)
                done.Add(ImageIO.Save(outcome.Results[k].Output, targets.Outputs[k], formats[k]));
            if (targets.ContactSheet != null)
            {
                var (rows, columns) = call?.Grid is { } g ? (g.Pix.Count, g.Sem.Count) : (1, 1);
                ImageIO.Save(ContactSheet.Build([.. outcome.Results.Select(x => x.Output.Rgb)], rows, columns), targets.ContactSheet);
            }
            return done;
        }, CancellationToken.None).ConfigureAwait(false);
        double saveMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        return outcome with
        {
            Stages = [new StageTime("decode", decodeMs), .. outcome.Stages, new StageTime("save", saveMs)],
            Saved = saved,
        };
    }

    /// <summary>Runs other work on the backend worker, in turn with the upscale calls (`pisa bench` measures the
    /// pipeline's latent path this way). The work gets the model's pipeline and the call's token.</summary>
    public Task<T> RunAsync<T>(Func<UpscalePipeline, CancellationToken, T> work, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _worker.Enqueue(ct => work(_pipeline, ct), cancellationToken);
    }

    /// <summary>The loaded model (configs for FLOP counts, caches); touch it only inside <see cref="RunAsync{T}"/>.</summary>
    public PisaModel Model => _model;

    public static byte[] Encode(RgbImage image, ImageFormat format)
    {
        using var ms = new MemoryStream();
        ImageIO.Encode(image, format, ms);
        return ms.ToArray();
    }

    private static async Task<byte[]> ReadBounded(Stream input, long maxBytes, CancellationToken ct)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = await input.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + n > maxBytes) throw new PisaException($"input image is larger than {maxBytes} bytes");
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _worker.Dispose();
        if (_owns)
        {
            _model.Dispose();
            _ops.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        // Joining the worker blocks until queued calls finish: do that off the caller's thread.
        return new ValueTask(Task.Run(Dispose));
    }
}
