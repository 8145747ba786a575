using System.Runtime.InteropServices;
using System.Text;

namespace PiSa.Tests.CudaKernels;

/// <summary>
/// A minimal NVRTC binding for tests only, used until the product's KernelCompiler (PiSa.Cuda) lands:
/// compiles one source for one architecture and returns the result code and log. Looks for the library
/// in $CUDA_LIB_DIRS (colon-separated; loading libnvrtc-builtins from the same folder first, as NVRTC
/// needs when loaded by absolute path), then under the repo's .cache/cuda118/lib, then by soname.
/// </summary>
internal static unsafe class TestNvrtc
{
    private static readonly Lazy<IntPtr> Lib = new(Load);
    public static string? Where { get; private set; }
    public static bool Available => Lib.Value != IntPtr.Zero;

    private static IntPtr Load()
    {
        var dirs = new List<string>();
        foreach (var d in (Environment.GetEnvironmentVariable("CUDA_LIB_DIRS") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)) dirs.Add(d);
        try { dirs.Add(Path.Combine(FixturePaths.RepoRoot, ".cache", "cuda118", "lib")); } catch (InvalidOperationException) { }
        foreach (string dir in dirs)
        {
            if (!Directory.Exists(dir)) continue;
            foreach (string b in Directory.GetFiles(dir, "libnvrtc-builtins.so.*")) NativeLibrary.TryLoad(b, out _);
            foreach (string name in new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2" })
                if (File.Exists(Path.Combine(dir, name)) && NativeLibrary.TryLoad(Path.Combine(dir, name), out IntPtr h)) { Where = Path.Combine(dir, name); return h; }
        }
        foreach (string name in new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "nvrtc64_120_0.dll" })
            if (NativeLibrary.TryLoad(name, out IntPtr h)) { Where = name; return h; }
        return IntPtr.Zero;
    }

    private static T* Fn<T>(string name) where T : unmanaged => (T*)NativeLibrary.GetExport(Lib.Value, name);

    public static (int Rc, string Log) Compile(string source, string name, string arch, params string[] extraOptions)
    {
        var create = (delegate* unmanaged<IntPtr*, byte*, byte*, int, byte**, byte**, int>)NativeLibrary.GetExport(Lib.Value, "nvrtcCreateProgram");
        var compile = (delegate* unmanaged<IntPtr, int, byte**, int>)NativeLibrary.GetExport(Lib.Value, "nvrtcCompileProgram");
        var logSize = (delegate* unmanaged<IntPtr, nuint*, int>)NativeLibrary.GetExport(Lib.Value, "nvrtcGetProgramLogSize");
        var getLog = (delegate* unmanaged<IntPtr, byte*, int>)NativeLibrary.GetExport(Lib.Value, "nvrtcGetProgramLog");
        var destroy = (delegate* unmanaged<IntPtr*, int>)NativeLibrary.GetExport(Lib.Value, "nvrtcDestroyProgram");

        byte[] src = Encoding.UTF8.GetBytes(source + "\0"), nm = Encoding.UTF8.GetBytes(name + "\0");
        var opts = new List<string> { "-std=c++17", "--gpu-architecture=" + arch, "--ptxas-options=-v" };
        opts.AddRange(extraOptions);
        var optBytes = opts.ConvertAll(o => Encoding.UTF8.GetBytes(o + "\0"));
        var handles = optBytes.ConvertAll(b => GCHandle.Alloc(b, GCHandleType.Pinned));
        try
        {
            IntPtr prog;
            fixed (byte* s = src, n = nm)
            {
                int rc0 = create(&prog, s, n, 0, null, null);
                if (rc0 != 0) return (rc0, "nvrtcCreateProgram failed");
            }
            byte** optPtrs = stackalloc byte*[handles.Count];
            for (int i = 0; i < handles.Count; i++) optPtrs[i] = (byte*)handles[i].AddrOfPinnedObject();
            int rc = compile(prog, handles.Count, optPtrs);
            nuint size;
            logSize(prog, &size);
            var log = new byte[(int)size + 1];
            fixed (byte* l = log) getLog(prog, l);
            destroy(&prog);
            return (rc, Encoding.UTF8.GetString(log).TrimEnd('\0'));
        }
        finally { foreach (var h in handles) h.Free(); }
    }
}
