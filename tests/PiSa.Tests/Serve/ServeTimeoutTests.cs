using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using PiSa.Serve;
using PiSa.Tests.Api;

namespace PiSa.Tests.Serve;

/// <summary>Issue 11, item 2, "per-request timeout": an image that cannot finish in time is a 504 with a JSON error
/// (a job: failed with that error).</summary>
public sealed class ServeTimeoutTests(TinyUpscalerFixture fixture) : IClassFixture<TinyUpscalerFixture>
{
    [Fact]
    public async Task An_image_past_its_timeout_is_504_and_a_job_fails_with_the_reason()
    {
        var up = fixture.Upscaler;
        await using var h = await ServeHarness.Start(up, new ServeOptions { RequestTimeout = TimeSpan.FromMilliseconds(300), Defaults = PisaUpscalerTests.Small });
        using var gate = new ManualResetEventSlim();
        var blocker = up.RunAsync((_, _) => gate.Wait(TimeSpan.FromSeconds(60)));   // holds the backend worker
        try
        {
            byte[] png = File.ReadAllBytes(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"));
            ByteArrayContent Body() => new(png) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } };
            using var job = await h.Client.PostAsync("/v1/jobs", Body());
            Assert.Equal(HttpStatusCode.Accepted, job.StatusCode);
            string id = JsonDocument.Parse(await job.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;

            using var sync = await h.Client.PostAsync("/v1/upscale", Body());
            Assert.Equal(HttpStatusCode.GatewayTimeout, sync.StatusCode);
            Assert.Equal("application/json", sync.Content.Headers.ContentType?.MediaType);
            Assert.Contains("timed out", JsonDocument.Parse(await sync.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());

            JsonElement s = default;
            for (int i = 0; i < 100; i++) // bounded: 10 s
            {
                using var status = await h.Client.GetAsync($"/v1/jobs/{id}");
                s = JsonDocument.Parse(await status.Content.ReadAsStringAsync()).RootElement.Clone();
                if (s.GetProperty("state").GetString() != "queued") break;
                await Task.Delay(100);
            }
            Assert.Equal("failed", s.GetProperty("state").GetString());
            Assert.Contains("timed out", s.GetProperty("error").GetString());
        }
        finally { gate.Set(); await blocker; }
        await up.RunAsync((_, _) => 0);   // the worker has passed the two timed-out images
        Assert.Equal(0, up.Pending);
    }
}
