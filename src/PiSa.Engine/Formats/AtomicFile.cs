using System.Diagnostics;
using System.Globalization;

namespace PiSa.Engine.Formats;

/// <summary>
/// Writes a file under a temporary sibling name and renames it into place, so the target path never
/// holds a partial file (a crash, a full disk or an exception leaves the old file, or nothing, there).
/// The temporary is <c>.NAME.pisa-tmp-PID</c>: hidden, never with an image or weight extension (so no folder
/// scan takes it for an input or an output), and tagged with the writer's process id, so that one left by a
/// killed process (<c>kill -9</c> mid-write) is recognised and removed by the next write into that folder.
/// </summary>
public static class AtomicFile
{
    public const string TempMarker = ".pisa-tmp-";
    /// <summary>Every temporary's name starts with this (hidden): folder scans skip such names.</summary>
    public const string TempPrefix = ".";

    private static readonly HashSet<string> Cleaned = new(StringComparer.Ordinal);

    public static void Write(string path, Action<Stream> write)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new PisaException($"cannot write '{path}': folder '{dir}' does not exist");
        CleanStaleOnce(dir);
        string temp = TempPathFor(full);
        try
        {
            // Create, not CreateNew: a file of this name is ours or a dead process's (same PID reused).
            using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e)
        {
            TryDelete(temp);
            if (e is IOException or UnauthorizedAccessException)
                throw new PisaException($"cannot write '{path}': {SafetensorsHeader.FirstLine(e.Message)}", e);
            throw;
        }
    }

    /// <summary>The temporary name this process uses for <paramref name="fullPath"/>.</summary>
    public static string TempPathFor(string fullPath) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(fullPath) ?? ".",
            TempPrefix + System.IO.Path.GetFileName(fullPath) + TempMarker + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

    /// <summary>True for a name this class gives its temporaries (whichever process wrote it).</summary>
    public static bool IsTemporary(string fileName) => TryParseTemp(System.IO.Path.GetFileName(fileName), out _);

    /// <summary>
    /// Deletes the temporaries in <paramref name="folder"/> whose writer process no longer runs; those of a live
    /// process (another pisa writing there now) are left alone. Returns how many were removed.
    /// </summary>
    public static int CleanStale(string folder)
    {
        int removed = 0;
        IEnumerable<string> candidates;
        try { candidates = Directory.EnumerateFiles(folder, "." + "*" + TempMarker + "*").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
        foreach (var file in candidates)
        {
            if (!TryParseTemp(System.IO.Path.GetFileName(file), out int pid) || pid == Environment.ProcessId || IsRunning(pid)) continue;
            if (TryDelete(file)) removed++;
        }
        return removed;
    }

    private static void CleanStaleOnce(string dir)
    {
        lock (Cleaned)
            if (!Cleaned.Add(dir)) return;
        CleanStale(dir);
    }

    private static bool TryParseTemp(string name, out int pid)
    {
        pid = 0;
        int at = name.LastIndexOf(TempMarker, StringComparison.Ordinal);
        return name.StartsWith(TempPrefix, StringComparison.Ordinal) && at > 1
            && int.TryParse(name.AsSpan(at + TempMarker.Length), NumberStyles.None, CultureInfo.InvariantCulture, out pid) && pid > 0;
    }

    private static bool IsRunning(int pid)
    {
        // Linux: a live process has /proc/PID (cheap, no handle). Elsewhere ask the process table.
        if (OperatingSystem.IsLinux()) return Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    private static bool TryDelete(string temp)
    {
        try
        {
            if (!File.Exists(temp)) return false;
            File.Delete(temp);
            return true;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
