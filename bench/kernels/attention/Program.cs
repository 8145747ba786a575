using PiSa.Bench.Kernels.Attention;
using PiSa.Engine;
using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cuda;

// dotnet run --project bench/kernels/attention -c Release -- [--device cuda|ptx] [--iters N] [B Lq Lk H D [causal]]...
// Each shape is given as 5 or 6 words; with none, the UNet-like set (cuda) or one small UNet-like shape (ptx).
try
{
    var a = args.ToList();
    string device = Take(a, "--device") ?? "cuda";
    int iters = int.Parse(Take(a, "--iters") ?? "20", System.Globalization.CultureInfo.InvariantCulture);
    var shapes = new List<AttentionShape>();
    for (int i = 0; i < a.Count;)
    {
        if (i + 5 > a.Count) throw new PisaException($"a shape is B Lq Lk H D [causal], got: {string.Join(' ', a.Skip(i))}");
        int[] n = a.Skip(i).Take(5).Select(w => int.TryParse(w, out int x) && x > 0 ? x : throw new PisaException($"not a positive integer: {w}")).ToArray();
        i += 5;
        bool causal = i < a.Count && a[i] == "causal";
        if (causal) i++;
        shapes.Add(new AttentionShape(n[0], n[1], n[2], n[3], n[4], causal));
    }
    if (shapes.Count == 0)
        shapes = device == "ptx"
            ? [new AttentionShape(1, 256, 256, 2, 64, false)]
            : [new(1, 4096, 4096, 5, 64, false), new(1, 1024, 1024, 10, 64, false), new(1, 4096, 77, 5, 64, false),
               new(1, 77, 77, 16, 64, true), new(1, 4096, 4096, 1, 512, false)];
    bool failed = false;
    foreach (var s in shapes)
    {
        // A fresh runtime per shape on the interpreter: its tallies are per kernel name.
        using var ops = (CudaOps)BackendFactory.Create(device == "ptx" ? "ptx" : device == "cuda" ? "cuda" : throw new PisaException($"--device {device}: cuda or ptx"));
        var rs = AttentionVersions.Run(ops, s, iters);
        Console.WriteLine(AttentionVersions.Format(s, rs));
        failed |= rs.Any(r => !r.Passed);
    }
    return failed ? 1 : 0;
}
catch (PisaException e) { Console.Error.WriteLine("attention bench: " + e.Message); return 2; }

static string? Take(List<string> a, string name)
{
    int i = a.IndexOf(name);
    if (i < 0) return null;
    if (i + 1 >= a.Count) throw new PisaException($"{name} needs a value");
    string v = a[i + 1];
    a.RemoveRange(i, 2);
    return v;
}
