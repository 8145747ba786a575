using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PiSa.Engine.Api;
using PiSa.Engine.Imaging;
using PiSa.Serve;
using PiSa.Tests.Api;

namespace PiSa.Tests.Serve;

/// <summary>`pisa serve` in process on a free loopback port, driven by a real HttpClient (tiny model, CPU).</summary>
public sealed class ServeTests(TinyUpscalerFixture fixture) : IClassFixture<TinyUpscalerFixture>
{
    private PisaUpscaler Up => fixture.Upscaler;
    private static string InputPath(char c) => Path.Combine(FixturePaths.Tiny, "inputs", $"lq_{c}.png");
    private static ByteArrayContent Png(byte[] bytes) => new(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } };
    private static ByteArrayContent Png(char c) => Png(File.ReadAllBytes(InputPath(c)));

    private async Task<byte[]> Expected(char c, Engine.Pipeline.UpscaleOptions? o = null) =>
        PisaUpscaler.Encode((await Up.UpscaleAsync(ImageIO.Load(InputPath(c)), o ?? PisaUpscalerTests.Small)).Image, ImageFormat.Png);

    private static async Task<string> ErrorOf(HttpResponseMessage r)
    {
        Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("error").GetString()!;
    }

    [Fact]
    public async Task Upscale_returns_what_the_cli_writes_for_the_same_input()
    {
        using var dir = new TempDir();
        string cliOut = dir.File("cli.png");
        Assert.Equal(0, PiSa.Cli.Program.Main(["upscale", InputPath('a'), "-o", cliOut, "--model", PisaUpscalerTests.TinyOptions.ModelDir,
            "--lora", PisaUpscalerTests.TinyOptions.LoraPath, "--process-size", "64", "--device", "cpu", "--mode", "adjustable", "--lambda-sem", "0.7"]));

        await using var h = await ServeHarness.Start(Up, new ServeOptions());
        using var r = await h.Client.PostAsync("/v1/upscale?process_size=64&mode=adjustable&lambda_sem=0.7", Png('a'));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("image/png", r.Content.Headers.ContentType?.MediaType);
        Assert.Equal(File.ReadAllBytes(cliOut), await r.Content.ReadAsByteArrayAsync());

        // The same through JSON with a base64 image.
        var json = $"{{\"image\":\"{Convert.ToBase64String(File.ReadAllBytes(InputPath('a')))}\",\"process_size\":64,\"mode\":\"adjustable\",\"lambda_sem\":0.7}}";
        using var rj = await h.Client.PostAsync("/v1/upscale", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(File.ReadAllBytes(cliOut), await rj.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Thirty_two_concurrent_requests_all_get_their_own_correct_image()
    {
        char[] names = ['a', 'b', 'c', 'd'];
        var want = new Dictionary<char, byte[]>();
        foreach (var c in names) want[c] = await Expected(c);
        await using var h = await ServeHarness.Start(Up);
        var tasks = Enumerable.Range(0, 32).Select(async k =>
        {
            char c = names[k % names.Length];
            using var r = await h.Client.PostAsync("/v1/upscale", Png(c));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            return (c, await r.Content.ReadAsByteArrayAsync());
        }).ToList();
        foreach (var (c, got) in await Task.WhenAll(tasks)) Assert.Equal(want[c], got);
        Assert.NotEqual(want['a'], want['b']);
    }

    [Fact]
    public async Task Jobs_report_queue_position_and_can_be_cancelled_while_waiting()
    {
        await using var h = await ServeHarness.Start(Up);
        using var gate = new ManualResetEventSlim();
        var blocker = Up.RunAsync((_, _) => gate.Wait(TimeSpan.FromSeconds(60))); // holds the backend worker
        try
        {
            var first = await Submit(h, 'a');
            var second = await Submit(h, 'b');
            Assert.Equal(("queued", 0), (first.GetProperty("state").GetString(), first.GetProperty("queue_position").GetInt32()));
            Assert.Equal(1, second.GetProperty("queue_position").GetInt32());
            string id1 = first.GetProperty("id").GetString()!, id2 = second.GetProperty("id").GetString()!;

            using (var early = await h.Client.GetAsync($"/v1/jobs/{id1}/result")) Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
            using (var del = await h.Client.DeleteAsync($"/v1/jobs/{id2}"))
            {
                Assert.Equal(HttpStatusCode.OK, del.StatusCode);
                Assert.Equal("cancelled", (await Json(del)).GetProperty("state").GetString());
            }
            using (var gone = await h.Client.GetAsync($"/v1/jobs/{id2}/result")) Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);
            using (var again = await h.Client.DeleteAsync($"/v1/jobs/{id2}")) Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

            gate.Set();
            await blocker;
            var state = "";
            for (int i = 0; i < 600 && state != "completed"; i++) // bounded: 60 s
            {
                using var s = await h.Client.GetAsync($"/v1/jobs/{id1}");
                state = (await Json(s)).GetProperty("state").GetString()!;
                if (state != "completed") await Task.Delay(100);
            }
            Assert.Equal("completed", state);
            using var result = await h.Client.GetAsync($"/v1/jobs/{id1}/result");
            Assert.Equal(await Expected('a'), await result.Content.ReadAsByteArrayAsync());
            using (var none = await h.Client.GetAsync("/v1/jobs/nosuchjob")) Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        }
        finally { gate.Set(); }
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after()
    {
        await using var h = await ServeHarness.Start(Up, new ServeOptions { QueueCapacity = 2, Defaults = PisaUpscalerTests.Small });
        using var gate = new ManualResetEventSlim();
        var blocker = Up.RunAsync((_, _) => gate.Wait(TimeSpan.FromSeconds(60)));
        try
        {
            await Submit(h, 'a');
            await Submit(h, 'b');
            using var full = await h.Client.PostAsync("/v1/jobs", Png('c'));
            Assert.Equal((HttpStatusCode)429, full.StatusCode);
            Assert.True(full.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "429 without a Retry-After");
            Assert.Contains("queue is full", await ErrorOf(full));
            using var sync = await h.Client.PostAsync("/v1/upscale", Png('c'));
            Assert.Equal((HttpStatusCode)429, sync.StatusCode);
        }
        finally { gate.Set(); await blocker; }
    }

    [Fact]
    public async Task Too_large_bodies_and_images_are_413()
    {
        await using var h = await ServeHarness.Start(Up, new ServeOptions { MaxBodyBytes = 4096, MaxInputPixels = 399, Defaults = PisaUpscalerTests.Small });
        // Refused from Content-Length before the body is read; with Expect: 100-continue the client then never
        // sends it (without, a client still uploading when the server answers and closes may see a reset instead).
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/upscale") { Content = Png(new byte[10_000]) };
        request.Headers.ExpectContinue = true;
        using var big = await h.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        Assert.Contains("4096", await ErrorOf(big));
        // lq_a is 20x20 = 400 pixels: one over the limit, refused from its header.
        using var pixels = await h.Client.PostAsync("/v1/upscale", Png('a'));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, pixels.StatusCode);
        Assert.Contains("20x20", await ErrorOf(pixels));
    }

    [Fact]
    public async Task Bad_images_and_parameters_are_400_with_a_json_error()
    {
        await using var h = await ServeHarness.Start(Up);
        using var garbage = await h.Client.PostAsync("/v1/upscale", Png("this is not an image"u8.ToArray()));
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.Contains("upload", await ErrorOf(garbage));
        using var truncated = await h.Client.PostAsync("/v1/jobs", Png(File.ReadAllBytes(InputPath('f'))[..60]));
        Assert.Equal(HttpStatusCode.BadRequest, truncated.StatusCode);
        // No request names a server file: such parameters are not ignored but refused.
        using var path = await h.Client.PostAsync("/v1/upscale?model=/etc/passwd", Png('a'));
        Assert.Equal(HttpStatusCode.BadRequest, path.StatusCode);
        Assert.Contains("unknown parameter 'model'", await ErrorOf(path));
        using var range = await h.Client.PostAsync("/v1/upscale?upscale=64", Png('a'));
        Assert.Contains("upscale must be an integer", await ErrorOf(range));
        using var json = await h.Client.PostAsync("/v1/upscale", new StringContent("{\"image\": 5}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, json.StatusCode);
        using var empty = await h.Client.PostAsync("/v1/upscale", Png([]));
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
    }

    [Fact]
    public async Task A_bearer_token_guards_everything_but_health()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("token"), "s3cret-token\n");
        await using var h = await ServeHarness.Start(Up, new ServeOptions { TokenFile = dir.File("token"), Defaults = PisaUpscalerTests.Small });
        using (var none = await h.Client.PostAsync("/v1/upscale", Png('a')))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Contains("bearer", await ErrorOf(none));
        }
        using (var metrics = await h.Client.GetAsync("/metrics")) Assert.Equal(HttpStatusCode.Unauthorized, metrics.StatusCode);
        var wrong = new HttpRequestMessage(HttpMethod.Post, "/v1/upscale") { Content = Png('a') };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-tokeN");
        using (var w = await h.Client.SendAsync(wrong)) Assert.Equal(HttpStatusCode.Unauthorized, w.StatusCode);
        var right = new HttpRequestMessage(HttpMethod.Post, "/v1/upscale") { Content = Png('a') };
        right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-token");
        using (var ok = await h.Client.SendAsync(right)) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var live = await h.Client.GetAsync("/v2/health/live")) Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task Open_inference_protocol_routes_work_as_kserve_calls_them()
    {
        await using var h = await ServeHarness.Start(Up);
        using (var live = await h.Client.GetAsync("/v2/health/live")) Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using (var ready = await h.Client.GetAsync("/v2/health/ready")) Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using (var mready = await h.Client.GetAsync("/v2/models/pisa-sr/ready")) Assert.Equal(HttpStatusCode.OK, mready.StatusCode);
        using (var meta = await h.Client.GetAsync("/v2/models/pisa-sr"))
        {
            var m = await Json(meta);
            Assert.Equal("pisa-sr", m.GetProperty("name").GetString());
            Assert.Equal("BYTES", m.GetProperty("inputs")[0].GetProperty("datatype").GetString());
        }
        string request = $$$"""
            {"id": "r1", "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["{{{Convert.ToBase64String(File.ReadAllBytes(InputPath('b')))}}}"]}],
             "parameters": {"lambda_pix": 0.5, "mode": "fused"}}
            """;
        using var infer = await h.Client.PostAsync("/v2/models/pisa-sr/infer", new StringContent(request, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, infer.StatusCode);
        var body = await Json(infer);
        Assert.Equal(("pisa-sr", "r1"), (body.GetProperty("model_name").GetString(), body.GetProperty("id").GetString()));
        var output = body.GetProperty("outputs")[0];
        Assert.Equal("BYTES", output.GetProperty("datatype").GetString());
        var want = await Expected('b', PisaUpscalerTests.Small with { Mode = Engine.Pipeline.LoraMode.Fused, LambdaPix = 0.5f });
        Assert.Equal(want, Convert.FromBase64String(output.GetProperty("data")[0].GetString()!));

        using var bad = await h.Client.PostAsync("/v2/models/pisa-sr/infer", new StringContent("{\"inputs\": []}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Metrics_count_requests_and_stage_latencies()
    {
        await using var h = await ServeHarness.Start(Up);
        using (var r = await h.Client.PostAsync("/v1/upscale", Png('a'))) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await h.Client.PostAsync("/v1/upscale", Png("x"u8.ToArray()))) Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        string text = await h.Client.GetStringAsync("/metrics");
        Assert.Contains("pisa_requests_total{route=\"/v1/upscale\",status=\"200\"} 1\n", text);
        Assert.Contains("pisa_requests_total{route=\"/v1/upscale\",status=\"400\"} 1\n", text);
        Assert.Contains("pisa_errors_total 1\n", text);
        Assert.Contains("pisa_queue_depth 0\n", text);
        Assert.Contains("pisa_stage_seconds_count{stage=\"unet\"} 1\n", text);
        Assert.Contains("pisa_stage_seconds_bucket{stage=\"unet\",le=\"+Inf\"} 1\n", text);
    }

    [Fact]
    public async Task The_openapi_document_lists_every_route_and_parameter()
    {
        await using var h = await ServeHarness.Start(Up);
        Assert.Equal(ServeRoutes.All.Order(), h.Server.MappedRoutes.Order());
        using var doc = JsonDocument.Parse(await h.Client.GetStringAsync("/openapi.json"));
        var paths = doc.RootElement.GetProperty("paths");
        var documented = paths.EnumerateObject().SelectMany(p => p.Value.EnumerateObject().Select(m => (m.Name.ToUpperInvariant(), p.Name)));
        Assert.Equal(ServeRoutes.All.Order(), documented.Order());
        var query = paths.GetProperty("/v1/upscale").GetProperty("post").GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString());
        Assert.Equal(RequestParameters.Names.Order(), query.Order());
    }

    private static async Task<JsonElement> Submit(ServeHarness h, char c)
    {
        using var r = await h.Client.PostAsync("/v1/jobs", Png(c));
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        var job = await Json(r);
        Assert.Equal($"/v1/jobs/{job.GetProperty("id").GetString()}", r.Headers.Location?.ToString());
        return job;
    }

    private static async Task<JsonElement> Json(HttpResponseMessage r)
    {
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }
}
