namespace PiSa.Engine.Formats;

/// <summary>
/// Writes a file under a temporary sibling name and renames it into place, so the target path never
/// holds a partial file (a crash or an exception leaves the old file, or nothing, there).
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new PisaException($"cannot write '{path}': folder '{dir}' does not exist");
        string temp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
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
                throw new PisaException($"cannot write '{path}': {e.Message}", e);
            throw;
        }
    }

    private static void TryDelete(string temp)
    {
        try { if (File.Exists(temp)) File.Delete(temp); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
