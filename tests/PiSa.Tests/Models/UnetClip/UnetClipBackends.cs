using PiSa.Engine.Backends;
using PiSa.Engine.Backends.Cpu;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>The backends the UNet/CLIP tests run on: the test-only NaiveOps (an independent
/// reference) and the product CPU backend.</summary>
public static class UnetClipBackends
{
    public static readonly string[] All = ["naive", "cpu"];

    public static TheoryData<string> Names
    {
        get
        {
            var d = new TheoryData<string>();
            foreach (var n in All) d.Add(n);
            return d;
        }
    }

    public static IOps Create(string name) => name switch
    {
        "naive" => new NaiveOps(),
        "cpu" => new CpuOps(),
        _ => throw new ArgumentException("unknown backend " + name),
    };
}
