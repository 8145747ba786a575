namespace PiSa.Tests;

/// <summary>Locates the repository's tests/fixtures folder from the test binary's directory.</summary>
public static class FixturePaths
{
    public static string RepoRoot { get; } = FindRepoRoot();
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");
    public static string Tiny => Path.Combine(Fixtures, "pisa-tiny");
    public static string Sd21 => Path.Combine(Fixtures, "sd21-base");
    public static string Kernels => Path.Combine(RepoRoot, "kernels");

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "PiSaEngine.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find PiSaEngine.sln above " + AppContext.BaseDirectory);
    }
}
