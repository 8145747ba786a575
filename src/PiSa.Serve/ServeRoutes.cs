using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PiSa.Engine;
using PiSa.Engine.Api;
using PiSa.Engine.Imaging;
using PiSa.Engine.Pipeline;

namespace PiSa.Serve;

/// <summary>
/// The HTTP routes of `pisa serve`. Every handler is a plain <see cref="RequestDelegate"/> (NativeAOT: no
/// reflection-built binding). Images come as the raw request body (parameters in the query string) or as JSON
/// {"image": base64, parameter: value...}; no parameter names a file on the server.
/// </summary>
public static class ServeRoutes
{
    public const string ModelName = "pisa-sr", ModelVersion = "1";

    /// <summary>Every route (method, pattern), as the OpenAPI document must list them.</summary>
    public static readonly (string Method, string Pattern)[] All =
    [
        ("POST", "/v1/upscale"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/{id}"), ("GET", "/v1/jobs/{id}/result"),
        ("DELETE", "/v1/jobs/{id}"), ("GET", "/v2"), ("GET", "/v2/health/live"), ("GET", "/v2/health/ready"),
        ("GET", "/v2/models/pisa-sr"), ("GET", "/v2/models/pisa-sr/ready"), ("POST", "/v2/models/pisa-sr/infer"),
        ("GET", "/metrics"), ("GET", "/openapi.json"),
    ];

    internal static void Map(IEndpointRouteBuilder app, PisaServer s)
    {
        app.MapPost("/v1/upscale", ctx => Upscale(ctx, s));
        app.MapPost("/v1/jobs", ctx => Submit(ctx, s));
        app.MapGet("/v1/jobs/{id}", ctx => Status(ctx, s));
        app.MapGet("/v1/jobs/{id}/result", ctx => Result(ctx, s));
        app.MapDelete("/v1/jobs/{id}", ctx => Cancel(ctx, s));
        app.MapGet("/v2", ctx => Json(ctx, 200, new OipServerMetadata("pisa", typeof(PisaServer).Assembly.GetName().Version?.ToString(3) ?? "0", []), ServeJsonContext.Default.OipServerMetadata));
        app.MapGet("/v2/health/live", ctx => { ctx.Response.StatusCode = 200; return Task.CompletedTask; });
        app.MapGet("/v2/health/ready", ctx => { ctx.Response.StatusCode = s.Draining ? 503 : 200; return Task.CompletedTask; });
        app.MapGet("/v2/models/pisa-sr", ctx => Json(ctx, 200, Metadata, ServeJsonContext.Default.OipModelMetadata));
        app.MapGet("/v2/models/pisa-sr/ready", ctx => { ctx.Response.StatusCode = s.Draining ? 503 : 200; return Task.CompletedTask; });
        app.MapPost("/v2/models/pisa-sr/infer", ctx => Infer(ctx, s));
        app.MapGet("/metrics", ctx =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return ctx.Response.WriteAsync(s.Metrics.Render(s.Jobs.Depth, s.Jobs.Capacity, s.Upscaler.PeakDeviceBytes, s.Upscaler.Backend));
        });
        app.MapGet("/openapi.json", async ctx =>
        {
            ctx.Response.ContentType = "application/json";
            await using var doc = typeof(ServeRoutes).Assembly.GetManifestResourceStream("openapi.json")!;
            await doc.CopyToAsync(ctx.Response.Body);
        });
    }

    private static readonly OipModelMetadata Metadata = new(ModelName, [ModelVersion], "pisa",
        [new OipTensorMetadata("image", "BYTES", [1])], [new OipTensorMetadata("image", "BYTES", [1])]);

    // ---- /v1 ------------------------------------------------------------------------------------------------

    private static async Task Upscale(HttpContext ctx, PisaServer s)
    {
        var (image, options, format) = await ReadImageRequest(ctx, s);
        var job = Admit(ctx, s, keep: false);
        job.Done = Run(s, job, image, options, format, ctx.RequestAborted);
        await job.Done;
        if (job.State != JobState.Completed) throw new RequestRefusedException(job.ErrorStatus, job.Error ?? "failed");
        ctx.Response.Headers["X-Pisa-Queue-Ms"] = Ms(job.QueueMs);
        ctx.Response.Headers["X-Pisa-Run-Ms"] = Ms(job.RunMs);
        ctx.Response.ContentType = job.ContentType;
        await ctx.Response.Body.WriteAsync(job.Result);
    }

    private static async Task Submit(HttpContext ctx, PisaServer s)
    {
        var (image, options, format) = await ReadImageRequest(ctx, s);
        var job = Admit(ctx, s, keep: true);
        job.Done = Run(s, job, image, options, format, CancellationToken.None);
        ctx.Response.Headers.Location = $"/v1/jobs/{job.Id}";
        await Json(ctx, 202, View(s, job), ServeJsonContext.Default.JobResponse);
    }

    private static Task Status(HttpContext ctx, PisaServer s) => Json(ctx, 200, View(s, FindJob(ctx, s)), ServeJsonContext.Default.JobResponse);

    private static async Task Result(HttpContext ctx, PisaServer s)
    {
        var job = FindJob(ctx, s);
        switch (job.State)
        {
            case JobState.Completed:
                ctx.Response.ContentType = job.ContentType;
                await ctx.Response.Body.WriteAsync(job.Result);
                return;
            case JobState.Failed:
                throw new RequestRefusedException(job.ErrorStatus, job.Error ?? "failed");
            case JobState.Cancelled:
                throw new RequestRefusedException(410, "the job was cancelled");
            default:
                ctx.Response.Headers.RetryAfter = s.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                throw new RequestRefusedException(409, $"the job is {Name(job.State)}");
        }
    }

    private static async Task Cancel(HttpContext ctx, PisaServer s)
    {
        var job = FindJob(ctx, s);
        if (job.IsFinished) throw new RequestRefusedException(409, $"the job has already {(job.State == JobState.Cancelled ? "been cancelled" : "finished")}");
        job.CancelRequested = true;
        job.Cancel.Cancel();
        // A waiting job ends at once; a running one at the pipeline's next check (between tiles and blocks).
        await Task.WhenAny(job.Done, Task.Delay(TimeSpan.FromSeconds(30)));
        await Json(ctx, 200, View(s, job), ServeJsonContext.Default.JobResponse);
    }

    // ---- /v2 (Open Inference Protocol) ------------------------------------------------------------------------

    private static async Task Infer(HttpContext ctx, PisaServer s)
    {
        var body = await ReadBody(ctx, s);
        OipInferRequest? request;
        try { request = JsonSerializer.Deserialize(body, ServeJsonContext.Default.OipInferRequest); }
        catch (JsonException e) { throw new RequestRefusedException(400, $"inference request is not valid JSON: {PisaServer.OneLine(e.Message)}"); }
        var input = request?.Inputs is [var only] ? only : throw new RequestRefusedException(400, "inference request needs exactly one input, 'image'");
        if (input.Name != "image" || input.Datatype != "BYTES")
            throw new RequestRefusedException(400, "the input must be named 'image' with datatype BYTES");
        if (input.Data.ValueKind != JsonValueKind.Array || input.Data.GetArrayLength() != 1 || input.Data[0].ValueKind != JsonValueKind.String)
            throw new RequestRefusedException(400, "input 'image' needs shape [1]: one base64 string");
        byte[] encoded = Base64(input.Data[0].GetString()!);
        var parameters = (request!.Parameters ?? []).Select(p => KeyValuePair.Create(p.Key, Scalar(p.Key, p.Value)));
        var (options, format) = RequestParameters.Apply(s.Options.Defaults, parameters);
        var image = DecodeBounded(encoded, s);

        var job = Admit(ctx, s, keep: false);
        job.Done = Run(s, job, image, options, format, ctx.RequestAborted);
        await job.Done;
        if (job.State != JobState.Completed) throw new RequestRefusedException(job.ErrorStatus, job.Error ?? "failed");
        var output = new OipInferOutput("image", "BYTES", [1], [Convert.ToBase64String(job.Result!)],
            new Dictionary<string, string> { ["content_type"] = job.ContentType! });
        await Json(ctx, 200, new OipInferResponse(ModelName, ModelVersion, request.Id, [output]), ServeJsonContext.Default.OipInferResponse);
    }

    // ---- shared -----------------------------------------------------------------------------------------------

    /// <summary>The image and parameters of a /v1 request: raw image body with query parameters, or JSON.</summary>
    private static async Task<(RgbImage, UpscaleOptions, ImageFormat)> ReadImageRequest(HttpContext ctx, PisaServer s)
    {
        var parameters = ctx.Request.Query.Select(q => KeyValuePair.Create(q.Key, q.Value.ToString())).ToList();
        var body = await ReadBody(ctx, s);
        byte[] encoded;
        if (ctx.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(body); }
            catch (JsonException e) { throw new RequestRefusedException(400, $"request body is not valid JSON: {PisaServer.OneLine(e.Message)}"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new RequestRefusedException(400, "request body must be a JSON object");
                encoded = [];
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (p.Name == "image")
                        encoded = p.Value.ValueKind == JsonValueKind.String ? Base64(p.Value.GetString()!) : throw new RequestRefusedException(400, "'image' must be a base64 string");
                    else parameters.Add(KeyValuePair.Create(p.Name, Scalar(p.Name, p.Value)));
                }
                if (encoded.Length == 0) throw new RequestRefusedException(400, "request JSON has no 'image' (base64 of the encoded image)");
            }
        }
        else encoded = body;
        var (options, format) = RequestParameters.Apply(s.Options.Defaults, parameters);
        return (DecodeBounded(encoded, s), options, format);
    }

    /// <summary>The body, at most the server's limit (413 above it, checked before reading where the length is declared).</summary>
    private static async Task<byte[]> ReadBody(HttpContext ctx, PisaServer s)
    {
        long max = s.Options.MaxBodyBytes;
        if (ctx.Request.ContentLength > max) throw new RequestRefusedException(413, $"request body is larger than {max} bytes");
        using var ms = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted)) > 0)
        {
            if (ms.Length + n > max) throw new RequestRefusedException(413, $"request body is larger than {max} bytes");
            ms.Write(buffer, 0, n);
        }
        if (ms.Length == 0) throw new RequestRefusedException(400, "request body is empty: send the image bytes (or JSON with 'image')");
        return ms.ToArray();
    }

    /// <summary>Refuses an image over the pixel limit from its header, before decoding allocates it.</summary>
    private static RgbImage DecodeBounded(byte[] encoded, PisaServer s)
    {
        var (w, h) = ImageIO.PeekSize(encoded, "upload");
        if ((long)w * h > s.Options.MaxInputPixels)
            throw new RequestRefusedException(413, $"image is {w}x{h}: more than the server's {s.Options.MaxInputPixels} pixel limit");
        return ImageIO.Decode(encoded, "upload");
    }

    private static Job Admit(HttpContext ctx, PisaServer s, bool keep)
    {
        var job = s.Jobs.TryAdmit(keep);
        if (job != null) return job;
        if (s.Draining) throw new RequestRefusedException(503, "the server is shutting down");
        ctx.Response.Headers.RetryAfter = s.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        throw new RequestRefusedException(429, $"the queue is full ({s.Jobs.Capacity} images waiting or running); retry later");
    }

    /// <summary>One admitted image on the upscaler, with the server's timeout and an optional abort (client gone).</summary>
    private static async Task Run(PisaServer s, Job job, RgbImage image, UpscaleOptions options, ImageFormat format, CancellationToken abort)
    {
        job.Cancel.CancelAfter(s.Options.RequestTimeout);
        using var onAbort = abort.Register(() => job.Cancel.Cancel());
        var progress = new JobProgress(job);
        try
        {
            var outcome = await s.Upscaler.UpscaleAsync(image, options, progress, job.Cancel.Token);
            var bytes = await Task.Run(() => PisaUpscaler.Encode(outcome.Image, format));
            job.Result = bytes;
            job.ContentType = RequestParameters.ContentType(format);
            job.QueueMs = outcome.QueueMilliseconds;
            job.RunMs = outcome.RunMilliseconds;
            foreach (var st in outcome.Stages) s.Metrics.Observe(st.Stage, st.Milliseconds / 1000);
            s.Metrics.ImageDone();
            s.RecordRun(outcome.RunMilliseconds);
            s.Jobs.Finish(job, JobState.Completed);
        }
        catch (OperationCanceledException)
        {
            if (job.CancelRequested) Fail(s, job, JobState.Cancelled, 410, "the job was cancelled");
            else if (abort.IsCancellationRequested) Fail(s, job, JobState.Cancelled, 499, "the client closed the request");
            else Fail(s, job, JobState.Failed, 504, $"timed out after {s.Options.RequestTimeout.TotalSeconds:F0} s");
        }
        catch (PisaException e)
        {
            Fail(s, job, JobState.Failed, 400, PisaServer.OneLine(e.Message));
        }
        catch (Exception e)
        {
            Fail(s, job, JobState.Failed, 500, $"internal error: {e.GetType().Name}: {PisaServer.OneLine(e.Message)}");
        }
        finally
        {
            job.Cancel.Dispose();
        }
    }

    private static void Fail(PisaServer s, Job job, JobState state, int status, string error)
    {
        job.Error = error;
        job.ErrorStatus = status;
        s.Jobs.Finish(job, state);
    }

    private sealed class JobProgress(Job job) : IProgress<UpscaleProgress>
    {
        public void Report(UpscaleProgress value)
        {
            if (job.State == JobState.Queued) job.State = JobState.Running;
            job.Progress = new ProgressBox(value);
        }
    }

    private static Job FindJob(HttpContext ctx, PisaServer s)
    {
        string id = ctx.Request.RouteValues["id"] as string ?? "";
        return s.Jobs.Find(id) ?? throw new RequestRefusedException(404, $"no job '{(id.Length > 64 ? id[..64] : id)}' (finished jobs are kept for the last {s.Options.JobRetention})");
    }

    private static JobResponse View(PisaServer s, Job job)
    {
        var p = job.Progress?.Value;
        return new JobResponse(job.Id, Name(job.State), s.Jobs.QueuePosition(job), p?.Stage, p?.Tile ?? 0, p?.Tiles ?? 0, job.Error,
            job.Created, job.Finished, job.QueueMs, job.RunMs);
    }

    private static string Name(JobState state) => state switch
    {
        JobState.Queued => "queued", JobState.Running => "running", JobState.Completed => "completed",
        JobState.Failed => "failed", _ => "cancelled",
    };

    private static string Scalar(string name, JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
        _ => throw new RequestRefusedException(400, $"parameter '{name}' must be a string or a number"),
    };

    private static byte[] Base64(string s)
    {
        try { return Convert.FromBase64String(s); }
        catch (FormatException) { throw new RequestRefusedException(400, "'image' is not valid base64"); }
    }

    private static string Ms(double? ms) => (ms ?? 0).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);

    private static Task Json<T>(HttpContext ctx, int status, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(ctx.Response.Body, value, info);
    }
}
