using PiSa.Engine.Api;
using PiSa.Serve;
using PiSa.Tests.Api;

namespace PiSa.Tests.Serve;

/// <summary>One tiny-model upscaler (CPU) shared by the server tests of a class.</summary>
public sealed class TinyUpscalerFixture : IDisposable
{
    public PisaUpscaler Upscaler { get; } = PisaUpscaler.Load(PisaUpscalerTests.TinyOptions);
    public void Dispose() => Upscaler.Dispose();
}

/// <summary>A server on a free loopback port (port 0) and an HttpClient pointed at it.</summary>
public sealed class ServeHarness : IAsyncDisposable
{
    public PisaServer Server { get; }
    public HttpClient Client { get; }
    public Uri BaseAddress { get; }

    private ServeHarness(PisaServer server, Uri baseAddress)
    {
        Server = server;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(120) };
    }

    public static async Task<ServeHarness> Start(PisaUpscaler upscaler, ServeOptions? options = null)
    {
        var o = (options ?? new ServeOptions()) with { Host = "127.0.0.1", Port = 0 };
        if (options == null) o = o with { Defaults = PisaUpscalerTests.Small };
        var server = PisaServer.Create(upscaler, o);
        await server.StartAsync();
        var url = server.Urls.Single();
        Assert.StartsWith("http://127.0.0.1:", url);
        return new ServeHarness(server, new Uri(url));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Server.StopAsync(stop.Token);
        await Server.DisposeAsync();
    }
}
