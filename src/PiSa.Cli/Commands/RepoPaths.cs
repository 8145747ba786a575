namespace PiSa.Cli.Commands;

/// <summary>Finds repository folders (fixtures, configs) from the current folder or the executable's, so the
/// commands work both from a checkout and from a native binary carried into one.</summary>
internal static class RepoPaths
{
    public static string? FindUp(string relative)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
                if (Directory.Exists(Path.Combine(dir.FullName, relative))) return Path.Combine(dir.FullName, relative);
        return null;
    }
}
