using System.CommandLine;

namespace PiSa.Cli.Commands;

/// <summary>Where every subcommand is registered (each command's parsing lives in its own file).</summary>
public static class CommandTree
{
    public static void AddAll(RootCommand root)
    {
        root.Add(UpscaleCommand.Build());
        root.Add(FileCommands.Inspect());
        root.Add(FileCommands.Convert());
        root.Add(DoctorCommand.Build());
        root.Add(SelftestCommand.Build());
        root.Add(BenchCommand.Build());
        root.Add(ProfileCommand.Build());
        root.Add(KernelsCommand.Build());
        root.Add(ExportRandomCommand.Build());
        root.Add(ServeCommand.Build());
        root.Add(EvalCommand.Build());
    }
}
