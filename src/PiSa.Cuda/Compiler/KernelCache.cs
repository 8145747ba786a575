using System.Security.Cryptography;
using System.Text;

namespace PiSa.Cuda;

/// <summary>
/// On-disk cache of compiled kernels. One file per key (hex SHA-256 of source, options, arch and NVRTC
/// version). An entry is never trusted blindly: its header repeats the key and carries the payload's
/// length and SHA-256, and anything that does not check out is deleted and reported as corrupt.
/// Writes go to a temporary file in the same folder and are renamed into place, so a reader sees
/// either nothing or a whole entry, even with several processes compiling at once.
/// </summary>
public sealed class KernelCache
{
    private static readonly byte[] Magic = "PISAKC1\n"u8.ToArray();
    private const int HeaderBytes = 8 + 32 + 8 + 32; // magic, key, payload length, payload SHA-256

    public string Directory { get; }

    public KernelCache(string directory) => Directory = directory;

    /// <summary>The cache key: SHA-256 over every input that changes the output.</summary>
    public static byte[] Key(string source, IReadOnlyList<string> options, string arch, string nvrtcVersion)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Put(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            h.AppendData(BitConverter.GetBytes((long)b.Length)); // length-prefixed: no ambiguity between fields
            h.AppendData(b);
        }
        Put("pisa-kernel-cache/1");
        Put(nvrtcVersion);
        Put(arch);
        Put(options.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var o in options)
            Put(o);
        Put(source);
        return h.GetHashAndReset();
    }

    public string PathFor(byte[] key) => Path.Combine(Directory, Convert.ToHexStringLower(key) + ".kc");

    public enum ReadStatus { Missing, Hit, Corrupt }

    /// <summary>Reads the entry for <paramref name="key"/>. A corrupt entry is deleted.</summary>
    public ReadStatus TryRead(byte[] key, out bool isCubin, out string log, out byte[] image)
    {
        isCubin = false;
        log = "";
        image = [];
        var path = PathFor(key);
        byte[] data;
        try
        {
            if (!File.Exists(path))
                return ReadStatus.Missing;
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ReadStatus.Missing;
        }

        if (Parse(data, key, out isCubin, out log, out image))
            return ReadStatus.Hit;
        TryDelete(path);
        return ReadStatus.Corrupt;
    }

    private static bool Parse(byte[] data, byte[] key, out bool isCubin, out string log, out byte[] image)
    {
        isCubin = false;
        log = "";
        image = [];
        var span = data.AsSpan();
        if (span.Length < HeaderBytes || !span[..8].SequenceEqual(Magic) || !span.Slice(8, 32).SequenceEqual(key))
            return false;
        long payloadLength = BitConverter.ToInt64(span.Slice(40, 8));
        if (payloadLength != span.Length - HeaderBytes)
            return false;
        var payload = span[HeaderBytes..];
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(span.Slice(48, 32)))
            return false;

        // payload: u8 isCubin, i32 logLength, log, i32 imageLength, image
        if (payload.Length < 1 + 4 + 4)
            return false;
        isCubin = payload[0] == 1;
        int logLen = BitConverter.ToInt32(payload.Slice(1, 4));
        if (logLen < 0 || 5 + logLen + 4 > payload.Length)
            return false;
        log = Encoding.UTF8.GetString(payload.Slice(5, logLen));
        int imgLen = BitConverter.ToInt32(payload.Slice(5 + logLen, 4));
        if (imgLen <= 0 || 9 + logLen + imgLen != payload.Length)
            return false;
        image = payload.Slice(9 + logLen, imgLen).ToArray();
        return true;
    }

    /// <summary>Stores an entry atomically (temp file + rename). Returns false (and leaves no file) when the folder is not writable.</summary>
    public bool Write(byte[] key, bool isCubin, string log, byte[] image)
    {
        var logBytes = Encoding.UTF8.GetBytes(log);
        var payload = new byte[1 + 4 + logBytes.Length + 4 + image.Length];
        payload[0] = (byte)(isCubin ? 1 : 0);
        BitConverter.TryWriteBytes(payload.AsSpan(1, 4), logBytes.Length);
        logBytes.CopyTo(payload, 5);
        BitConverter.TryWriteBytes(payload.AsSpan(5 + logBytes.Length, 4), image.Length);
        image.CopyTo(payload, 9 + logBytes.Length);

        var header = new byte[HeaderBytes];
        Magic.CopyTo(header, 0);
        key.CopyTo(header, 8);
        BitConverter.TryWriteBytes(header.AsSpan(40, 8), (long)payload.Length);
        SHA256.HashData(payload).CopyTo(header, 48);

        var final = PathFor(key);
        var tmp = Path.Combine(Directory, $".{Path.GetFileName(final)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                f.Write(header);
                f.Write(payload);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, final, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(tmp);
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
