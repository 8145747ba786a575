using System.CommandLine;
using PiSa.Engine.Api;
using PiSa.Serve;

namespace PiSa.Cli.Commands;

/// <summary>
/// `pisa serve --model SD_DIR --lora CHECKPOINT [--host H] [--port P] [--device ...] [processing options]`: loads
/// the model once and serves it over HTTP (src/PiSa.Serve) until SIGTERM or Ctrl-C, then finishes what it admitted
/// and exits 0. The processing options are the defaults a request may override.
/// </summary>
public static class ServeCommand
{
    public static Command Build()
    {
        var model = new Option<string>("--model") { Description = "SD 2.1-base folder in diffusers layout", Required = true };
        var lora = new Option<string>("--lora") { Description = "PiSA-SR checkpoint: pisa_sr.pkl or pisa_sr.safetensors", Required = true };
        var host = new Option<string>("--host") { Description = "address to bind (loopback unless you say otherwise; 0.0.0.0 or :: for all)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0: a free one, printed at start)", DefaultValueFactory = _ => 8080 };
        var device = DeviceOption.Create();
        var tokenFile = new Option<string?>("--token-file") { Description = "file holding a bearer token that every route but /v2/health/* requires" };
        var queue = new Option<int>("--queue") { Description = "images admitted at once, waiting or running (429 with Retry-After above)", DefaultValueFactory = _ => 64 };
        var maxBody = new Option<int>("--max-body-mb") { Description = "largest request body in MiB (413 above)", DefaultValueFactory = _ => 32 };
        var maxPixels = new Option<long>("--max-pixels") { Description = "largest input image in pixels, width x height (413 above)", DefaultValueFactory = _ => 2048L * 2048 };
        var timeout = new Option<int>("--timeout") { Description = "seconds one image may take from admission to result (504 above)", DefaultValueFactory = _ => 300 };
        var weightBudget = new Option<int>("--weight-cache-mb") { Description = "memory for cached LoRA weight sets (one per mode and lambdas), least recently used dropped first", DefaultValueFactory = _ => (int)(Engine.Pipeline.PisaModel.DefaultWeightSetBudgetBytes >> 20) };
        var processing = new ProcessingOptions();

        var cmd = new Command("serve", "Serve the model over HTTP (/v1 routes, the Open Inference Protocol v2, /metrics).")
        {
            model, lora, host, port, device, tokenFile, queue, maxBody, maxPixels, timeout, weightBudget,
        };
        processing.AddTo(cmd);
        cmd.SetAction(r => Run(new PisaUpscalerOptions
        {
            ModelDir = r.GetValue(model)!,
            LoraPath = r.GetValue(lora)!,
            Device = r.GetValue(device)!,
            WeightSetBudgetBytes = (long)r.GetValue(weightBudget) << 20,
            Notice = n => Console.Error.WriteLine($"pisa: {n}"),
        }, new ServeOptions
        {
            Host = r.GetValue(host)!,
            Port = r.GetValue(port),
            TokenFile = r.GetValue(tokenFile),
            QueueCapacity = r.GetValue(queue),
            MaxBodyBytes = (long)r.GetValue(maxBody) << 20,
            MaxInputPixels = r.GetValue(maxPixels),
            RequestTimeout = TimeSpan.FromSeconds(r.GetValue(timeout)),
            Defaults = processing.Bind(r),
        }));
        return cmd;
    }

    public static int Run(PisaUpscalerOptions load, ServeOptions serve)
    {
        PisaServer.Validate(serve);
        using var upscaler = PisaUpscaler.Load(load);
        var server = PisaServer.Create(upscaler, serve);
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
        }
        catch (IOException e)
        {
            throw new Engine.PisaException($"cannot listen on {serve.Host}:{serve.Port}: {e.Message}");
        }
        // Tests and scripts read this line for the port.
        Console.Out.WriteLine($"pisa: serving {upscaler.Backend} on {string.Join(' ', server.Urls)}");
        Console.Out.Flush();
        server.WaitForShutdownAsync().GetAwaiter().GetResult();
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.Error.WriteLine("pisa: stopped");
        return Program.ExitOk;
    }
}
