using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using PiSa.Engine.Imaging;

namespace PiSa.Tests.Serve;

/// <summary>`pisa serve` as its own process, as Kubernetes runs it: SIGTERM lets the requests in flight finish,
/// refuses new ones, and exits 0.</summary>
public sealed class ServeProcessTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
    private const int SIGTERM = 15;

    [Fact]
    public async Task Sigterm_drains_requests_in_flight_and_exits_zero()
    {
        if (!OperatingSystem.IsLinux()) return;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "pisa.dll"), "serve", "--model", Path.Combine(FixturePaths.Tiny, "sd"),
                     "--lora", Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl"), "--device", "cpu", "--port", "0", "--process-size", "64" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            // The first stdout line names the bound address (port 0: a free one).
            var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(90));
            var url = Regex.Match(line ?? "", @"http://127\.0\.0\.1:\d+").Value;
            Assert.True(url.Length > 0, $"no address in '{line}'; stderr: {(p.HasExited ? await stderr : "")}");
            using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(120) };

            // Two slower images (process size 256 on the tiny model: seconds each on this machine) in flight.
            byte[] png = File.ReadAllBytes(Path.Combine(FixturePaths.Tiny, "inputs", "lq_a.png"));
            var inFlight = Enumerable.Range(0, 2).Select(_ => client.PostAsync("/v1/upscale?process_size=256",
                new ByteArrayContent(png) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } })).ToList();
            bool admitted = false;
            for (int i = 0; i < 400 && !admitted; i++) // bounded: 20 s
            {
                admitted = (await client.GetStringAsync("/metrics")).Contains("pisa_queue_depth 2\n");
                if (!admitted) await Task.Delay(50);
            }
            Assert.True(admitted, "the two images were never both admitted");
            Assert.Equal(0, kill(p.Id, SIGTERM));

            // A new image after the signal is refused (503 while draining, or no connection once closed).
            await Task.Delay(200);
            try
            {
                using var late = await client.PostAsync("/v1/upscale", new ByteArrayContent(png));
                Assert.Equal(HttpStatusCode.ServiceUnavailable, late.StatusCode);
            }
            catch (HttpRequestException) { }

            foreach (var t in inFlight)
            {
                using var r = await t;
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                var image = ImageIO.Decode(await r.Content.ReadAsByteArrayAsync(), "response");
                Assert.Equal((80, 80), (image.Width, image.Height));
            }
            Assert.True(p.WaitForExit(60_000), "pisa serve did not exit within 60 s of SIGTERM");
            Assert.Equal(0, p.ExitCode);
            Assert.Contains("pisa: stopped", await stderr);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
    }
}
