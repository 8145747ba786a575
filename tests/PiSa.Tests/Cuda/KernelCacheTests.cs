using PiSa.Cuda;

namespace PiSa.Tests.Cuda;

public class KernelCacheTests
{
    [NvrtcFact]
    public void SecondCompile_IsACacheHit_WithIdenticalImage()
    {
        using var dir = new CudaTestSupport.TempDir();
        var compiler = new KernelCompiler(dir.Path);
        var first = compiler.Compile("axpy", TestKernels.Axpy, "sm_80");
        var second = compiler.Compile("axpy", TestKernels.Axpy, "sm_80");
        Assert.Equal(CacheOutcome.Miss, first.Cache);
        Assert.Equal(CacheOutcome.Hit, second.Cache);
        Assert.Equal(first.Image, second.Image);
        Assert.Equal(first.Log, second.Log);
        Assert.Equal(first.Usage, second.Usage);
        Assert.Single(Directory.GetFiles(dir.Path)); // no temp files left behind

        // Any input change is a different key (PTX targets: quicker, no ptxas).
        Assert.Equal(CacheOutcome.Miss, compiler.Compile("axpy", TestKernels.Axpy, "compute_80").Cache);
        Assert.Equal(CacheOutcome.Hit, compiler.Compile("axpy", TestKernels.Axpy, "compute_80").Cache);
        Assert.Equal(CacheOutcome.Miss, compiler.Compile("axpy", TestKernels.Axpy, "compute_90").Cache);
        Assert.Equal(CacheOutcome.Miss, compiler.Compile("axpy", TestKernels.Axpy + "\n", "compute_80").Cache);
        Assert.Equal(CacheOutcome.Miss, compiler.Compile("axpy", TestKernels.Axpy, "compute_80", new KernelCompileOptions { FastMath = true }).Cache);
        Assert.Equal(5, Directory.GetFiles(dir.Path).Length);
    }

    [NvrtcFact]
    public void CorruptEntry_IsRecompiled_AndRewritten()
    {
        using var dir = new CudaTestSupport.TempDir();
        var compiler = new KernelCompiler(dir.Path);
        var good = compiler.Compile("axpy", TestKernels.Axpy, "compute_80");
        var file = Assert.Single(Directory.GetFiles(dir.Path));

        // Flip one byte in the payload: same length, wrong hash.
        var bytes = File.ReadAllBytes(file);
        bytes[^10] ^= 0x5a;
        File.WriteAllBytes(file, bytes);
        var again = compiler.Compile("axpy", TestKernels.Axpy, "compute_80");
        Assert.Equal(CacheOutcome.CorruptRecompiled, again.Cache);
        Assert.Equal(good.Image, again.Image);
        Assert.Equal(CacheOutcome.Hit, compiler.Compile("axpy", TestKernels.Axpy, "compute_80").Cache);

        // Truncated entry.
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..100]);
        Assert.Equal(CacheOutcome.CorruptRecompiled, compiler.Compile("axpy", TestKernels.Axpy, "compute_80").Cache);
        Assert.Equal(CacheOutcome.Hit, compiler.Compile("axpy", TestKernels.Axpy, "compute_80").Cache);
    }

    [Fact]
    public void Cache_RoundTrips_AndRejectsEveryKindOfDamage()
    {
        using var dir = new CudaTestSupport.TempDir();
        var cache = new KernelCache(dir.Path);
        var key = KernelCache.Key("src", ["-a", "-b"], "sm_80", "11.8");
        var image = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        Assert.Equal(KernelCache.ReadStatus.Missing, cache.TryRead(key, out _, out _, out _));
        Assert.True(cache.Write(key, true, "ptxas info: ok", image));

        Assert.Equal(KernelCache.ReadStatus.Hit, cache.TryRead(key, out bool cubin, out string log, out byte[] read));
        Assert.True(cubin);
        Assert.Equal("ptxas info: ok", log);
        Assert.Equal(image, read);

        var path = cache.PathFor(key);
        var original = File.ReadAllBytes(path);
        List<byte[]> damages =
        [
            original[..^1],                                   // truncated
            [.. original, 0],                                 // trailing garbage
            Flip(original, 0),                                // magic
            Flip(original, 8),                                // key
            Flip(original, 40),                               // length
            Flip(original, 48),                               // stored hash
            Flip(original, original.Length - 1),              // image byte
            [],                                               // empty file
        ];
        foreach (var damaged in damages)
        {
            File.WriteAllBytes(path, damaged);
            Assert.Equal(KernelCache.ReadStatus.Corrupt, cache.TryRead(key, out _, out _, out _));
            Assert.False(File.Exists(path)); // deleted, never trusted
        }
    }

    [Fact]
    public void Key_DependsOnEveryInput_AndFieldBoundaries()
    {
        var k = Convert.ToHexString(KernelCache.Key("s", ["-a"], "sm_80", "11.8"));
        Assert.NotEqual(k, Convert.ToHexString(KernelCache.Key("s ", ["-a"], "sm_80", "11.8")));
        Assert.NotEqual(k, Convert.ToHexString(KernelCache.Key("s", ["-b"], "sm_80", "11.8")));
        Assert.NotEqual(k, Convert.ToHexString(KernelCache.Key("s", ["-a"], "sm_90", "11.8")));
        Assert.NotEqual(k, Convert.ToHexString(KernelCache.Key("s", ["-a"], "sm_80", "12.0")));
        Assert.NotEqual(Convert.ToHexString(KernelCache.Key("s", ["-a", "b"], "sm_80", "11.8")),
                        Convert.ToHexString(KernelCache.Key("s", ["-ab"], "sm_80", "11.8")));
        Assert.Equal(k, Convert.ToHexString(KernelCache.Key("s", ["-a"], "sm_80", "11.8")));
    }

    [Fact]
    public void DefaultCacheDirectory_FollowsTheEnvironment()
    {
        var saved = Environment.GetEnvironmentVariable(KernelCompiler.EnvCacheDir);
        try
        {
            Environment.SetEnvironmentVariable(KernelCompiler.EnvCacheDir, "/tmp/somewhere");
            Assert.Equal("/tmp/somewhere", KernelCompiler.DefaultCacheDirectory());
            Environment.SetEnvironmentVariable(KernelCompiler.EnvCacheDir, "off");
            Assert.Null(KernelCompiler.DefaultCacheDirectory());
            Environment.SetEnvironmentVariable(KernelCompiler.EnvCacheDir, null);
            Assert.EndsWith(Path.Combine(".cache", "pisa", "kernels"), KernelCompiler.DefaultCacheDirectory());
        }
        finally
        {
            Environment.SetEnvironmentVariable(KernelCompiler.EnvCacheDir, saved);
        }
    }

    private static byte[] Flip(byte[] a, int i)
    {
        var b = (byte[])a.Clone();
        b[i] ^= 0xff;
        return b;
    }
}
