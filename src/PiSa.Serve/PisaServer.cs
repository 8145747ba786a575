using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PiSa.Engine;
using PiSa.Engine.Api;

namespace PiSa.Serve;

/// <summary>
/// `pisa serve`: an ASP.NET Core minimal API on Kestrel over one <see cref="PisaUpscaler"/>. NativeAOT-safe: the
/// slim builder, handlers as plain <see cref="RequestDelegate"/>s (no reflection-built parameter binding) and
/// source-generated JSON (<see cref="ServeJsonContext"/>). Routes: <see cref="ServeRoutes"/>.
///
/// Shutdown (SIGTERM, Ctrl-C, <see cref="StopAsync"/>): readiness turns 503 and new images are refused with 503,
/// every admitted image (running or queued, sync or async) finishes and its response is sent, then Kestrel stops
/// and the process exits 0.
/// </summary>
public sealed class PisaServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    internal PisaUpscaler Upscaler { get; }
    internal ServeOptions Options { get; }
    internal JobStore Jobs { get; }
    internal ServeMetrics Metrics { get; } = new();
    private readonly byte[]? _token;
    private volatile bool _draining;
    private long _avgRunMicros = 1_000_000; // moving average of one image's time on the backend, for Retry-After

    internal bool Draining => _draining;

    private PisaServer(PisaUpscaler upscaler, ServeOptions options, byte[]? token)
    {
        Upscaler = upscaler;
        Options = options;
        Jobs = new JobStore(options.QueueCapacity, options.JobRetention, options.JobRetentionBytes);
        _token = token;

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.RequestTimeout + TimeSpan.FromSeconds(30));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.Listen(ParseHost(options.Host), options.Port);
        });
        _app = builder.Build();
        var lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        // On SIGTERM: refuse new images at once. Kestrel then stops listening and waits (up to the host's shutdown
        // timeout, set above the request timeout) for the requests in flight to be answered; RunAsync then waits
        // for the asynchronous jobs still admitted.
        lifetime.ApplicationStopping.Register(() =>
        {
            _draining = true;
            _ = Jobs.CloseAndDrain();
        });
        _app.Use(Outermost);
        ServeRoutes.Map(_app, this);
    }

    /// <summary>Builds the server over a loaded upscaler (which it does not dispose). The token file, when given,
    /// holds the bearer token (surrounding whitespace ignored).</summary>
    public static PisaServer Create(PisaUpscaler upscaler, ServeOptions options) => new(upscaler, options, Validate(options));

    /// <summary>Checks the options and reads the token file (null: no token); `pisa serve` calls it before loading
    /// the model, so a bad option fails in a second, not after the load.</summary>
    public static byte[]? Validate(ServeOptions options)
    {
        ParseHost(options.Host);
        if (options.QueueCapacity < 1) throw new PisaException($"--queue must be at least 1, got {options.QueueCapacity}");
        if (options.MaxBodyBytes < 1024) throw new PisaException($"--max-body-mb is too small");
        if (options.MaxInputPixels < 1) throw new PisaException($"--max-pixels must be positive");
        if (options.RequestTimeout <= TimeSpan.Zero) throw new PisaException("--timeout must be positive");
        if (options.Port is < 0 or > 65535) throw new PisaException($"--port must be in [0, 65535], got {options.Port}");
        options.Defaults.Validate();
        byte[]? token = null;
        if (options.TokenFile != null)
        {
            string text;
            try { text = File.ReadAllText(options.TokenFile).Trim(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PisaException($"cannot read token file '{options.TokenFile}': {e.Message}");
            }
            if (text.Length == 0) throw new PisaException($"token file '{options.TokenFile}' is empty");
            token = Encoding.UTF8.GetBytes(text);
        }
        return token;
    }

    private static IPAddress ParseHost(string host) => host switch
    {
        "localhost" => IPAddress.Loopback,
        _ when IPAddress.TryParse(host, out var a) => a,
        _ => throw new PisaException($"--host must be an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or localhost, got '{host}'"),
    };

    /// <summary>The bound addresses (with the real port when 0 was asked for); valid after <see cref="StartAsync"/>.</summary>
    public IReadOnlyList<string> Urls =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    public Task StartAsync(CancellationToken ct = default) => _app.StartAsync(ct);

    /// <summary>(method, pattern) of every endpoint the app maps (the OpenAPI test compares them with the document).</summary>
    public IReadOnlyList<(string Method, string Pattern)> MappedRoutes =>
        _app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => (m, e.RoutePattern.RawText ?? "")))
            .ToList();

    /// <summary>Until the host is told to stop (SIGTERM, Ctrl-C, <see cref="StopAsync"/>), then until every admitted
    /// image has finished.</summary>
    public async Task WaitForShutdownAsync(CancellationToken ct = default)
    {
        await _app.WaitForShutdownAsync(ct).ConfigureAwait(false);
        await Jobs.CloseAndDrain().ConfigureAwait(false);
    }

    public async Task StopAsync(CancellationToken ct = default)
    {
        await _app.StopAsync(ct).ConfigureAwait(false);
        await Jobs.CloseAndDrain().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);

    internal int RetryAfterSeconds =>
        (int)Math.Clamp(Math.Ceiling(Jobs.Depth * Interlocked.Read(ref _avgRunMicros) / 1e6), 1, 3600);

    internal void RecordRun(double runMs)
    {
        long micros = (long)(runMs * 1000);
        long old = Interlocked.Read(ref _avgRunMicros);
        Interlocked.Exchange(ref _avgRunMicros, (old * 7 + micros) / 8);
    }

    /// <summary>Errors as JSON, metrics per route, draining, then the bearer token.</summary>
    private async Task Outermost(HttpContext ctx, RequestDelegate next)
    {
        try
        {
            string path = ctx.Request.Path.Value ?? "";
            bool health = path.StartsWith("/v2/health/", StringComparison.Ordinal);
            if (_draining && !health && path != "/metrics")
                throw new RequestRefusedException(503, "the server is shutting down");
            if (_token != null && !health && !Authorized(ctx.Request))
            {
                ctx.Response.Headers.WWWAuthenticate = "Bearer";
                throw new RequestRefusedException(401, "missing or wrong bearer token");
            }
            await next(ctx);
        }
        catch (RequestRefusedException e) when (!ctx.Response.HasStarted)
        {
            await WriteError(ctx, e.Status, e.Message);
        }
        catch (BadHttpRequestException e) when (!ctx.Response.HasStarted)
        {
            await WriteError(ctx, e.StatusCode, e.StatusCode == 413 ? $"request body is larger than {Options.MaxBodyBytes} bytes" : OneLine(e.Message));
        }
        catch (PisaException e) when (!ctx.Response.HasStarted)
        {
            await WriteError(ctx, 400, OneLine(e.Message));
        }
        catch (Exception e) when (!ctx.Response.HasStarted && e is not OperationCanceledException)
        {
            await WriteError(ctx, 500, $"internal error: {e.GetType().Name}: {OneLine(e.Message)}");
        }
        finally
        {
            string route = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            Metrics.Request(route, ctx.Response.StatusCode);
        }
    }

    private bool Authorized(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        const string scheme = "Bearer ";
        if (header == null || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var given = Encoding.UTF8.GetBytes(header[scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, _token);
    }

    internal static Task WriteError(HttpContext ctx, int status, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return System.Text.Json.JsonSerializer.SerializeAsync(ctx.Response.Body, new ErrorResponse(message), ServeJsonContext.Default.ErrorResponse);
    }

    internal static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
