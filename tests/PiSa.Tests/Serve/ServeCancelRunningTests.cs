using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using PiSa.Engine.Api;
using PiSa.Engine.Imaging;
using PiSa.Tests.Api;

namespace PiSa.Tests.Serve;

/// <summary>Issue 11, item 4, "cancel" for a job that is already running (the waiting case is in ServeTests).</summary>
public sealed class ServeCancelRunningTests(TinyUpscalerFixture fixture) : IClassFixture<TinyUpscalerFixture>
{
    private static ByteArrayContent Png() =>
        new(File.ReadAllBytes(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"))) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } };

    private static async Task<JsonElement> Json(HttpResponseMessage r)
    {
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task A_running_job_cancelled_stops_at_the_next_tile_and_the_next_request_is_served()
    {
        await using var h = await ServeHarness.Start(fixture.Upscaler);
        // Process size 256 on the 20x20 input: a 32x32 latent in 8-pixel UNet tiles (dozens), so the job runs for
        // seconds and is still in its UNet when the cancel arrives.
        using var submit = await h.Client.PostAsync("/v1/jobs?process_size=256&latent_tile=8&latent_overlap=2", Png());
        Assert.Equal(HttpStatusCode.Accepted, submit.StatusCode);
        string id = (await Json(submit)).GetProperty("id").GetString()!;

        JsonElement status = default;
        for (int i = 0; i < 1200; i++) // bounded: 60 s
        {
            using var s = await h.Client.GetAsync($"/v1/jobs/{id}");
            status = await Json(s);
            if (status.GetProperty("state").GetString() == "running" && status.GetProperty("stage").GetString() == "unet"
                && status.GetProperty("tile").GetInt32() >= 1) break;
            Assert.NotEqual("completed", status.GetProperty("state").GetString());
            await Task.Delay(50);
        }
        int tiles = status.GetProperty("tiles").GetInt32();
        Assert.True(tiles > 4, $"expected many UNet tiles, saw {tiles}");

        using var del = await h.Client.DeleteAsync($"/v1/jobs/{id}");
        Assert.Equal(HttpStatusCode.OK, del.StatusCode);
        var cancelled = await Json(del);
        Assert.Equal("cancelled", cancelled.GetProperty("state").GetString());
        Assert.True(cancelled.GetProperty("tile").GetInt32() < tiles, "the job ran to its last tile before stopping");
        using (var gone = await h.Client.GetAsync($"/v1/jobs/{id}/result")) Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);

        // The backend is free and unharmed: the next image is the library's own result.
        var want = PisaUpscaler.Encode((await fixture.Upscaler.UpscaleAsync(ImageIO.Load(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png")),
            PisaUpscalerTests.Small)).Image, ImageFormat.Png);
        using var next = await h.Client.PostAsync("/v1/upscale?process_size=64", Png());
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(want, await next.Content.ReadAsByteArrayAsync());
        Assert.Equal(0, fixture.Upscaler.Pending);
    }
}
