using System.CommandLine;

namespace PiSa.Cli.Commands;

/// <summary>System.CommandLine wiring of `pisa inspect` and `pisa convert` (their logic lives in InspectCommand/ConvertCommand).</summary>
public static class FileCommands
{
    public static Command Inspect()
    {
        var file = new Argument<string>("PATH") { Description = "a .safetensors file, a PyTorch checkpoint (.pkl/.pt/.bin zip), or a model folder (every weight file in it)" };
        var json = new Option<bool>("--json") { Description = "print the report as JSON" };
        var cmd = new Command("inspect", "List the tensors, dtypes, shapes, parameter counts and metadata of a weight file or model folder.") { file, json };
        cmd.SetAction(r => InspectCommand.Run(r.GetValue(file)!, Console.Out, r.GetValue(json)));
        return cmd;
    }

    public static Command Convert()
    {
        var input = new Argument<string>("CHECKPOINT") { Description = "the official pisa_sr.pkl" };
        var output = new Option<string>("--output", "-o") { Description = "the .safetensors file to write", Required = true };
        var cmd = new Command("convert", "Rewrite a PiSA-SR checkpoint (pisa_sr.pkl) as safetensors.") { input, output };
        cmd.SetAction(r => ConvertCommand.Run(r.GetValue(input)!, r.GetValue(output)!, Console.Out));
        return cmd;
    }
}
