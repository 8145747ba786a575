using PiSa.Engine.Pipeline;

namespace PiSa.Serve;

/// <summary>What `pisa serve` is started with. Processing options are the defaults a request may override.</summary>
public sealed record ServeOptions
{
    /// <summary>Address to bind; loopback unless the operator says otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>TCP port; 0 picks a free one (the bound address is in <see cref="PisaServer.Urls"/>).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>File holding the bearer token every route but the health checks requires; null: no token.</summary>
    public string? TokenFile { get; init; }
    /// <summary>Largest accepted request body (413 above).</summary>
    public long MaxBodyBytes { get; init; } = 32L << 20;
    /// <summary>Largest accepted input image, width x height (413 above), checked from the header before decoding.</summary>
    public long MaxInputPixels { get; init; } = 2048L * 2048;
    /// <summary>Requests admitted at once, waiting or running, sync and async together (429 above).</summary>
    public int QueueCapacity { get; init; } = 64;
    /// <summary>Longest time one image may take from admission to result (504 / job failed above).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Finished jobs kept for GET .../result, oldest dropped first.</summary>
    public int JobRetention { get; init; } = 256;
    /// <summary>Bytes of finished jobs' results kept at most (the oldest are dropped first).</summary>
    public long JobRetentionBytes { get; init; } = 1L << 30;
    /// <summary>Per-request processing defaults.</summary>
    public UpscaleOptions Defaults { get; init; } = new();
}
