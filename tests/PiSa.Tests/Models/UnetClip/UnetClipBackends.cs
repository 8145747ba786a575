using PiSa.Engine.Backends;

namespace PiSa.Tests.Models.UnetClip;

/// <summary>The backends the UNet/CLIP tests run on: the test-only NaiveOps (an independent reference).</summary>
public static class UnetClipBackends
{
    public static readonly string[] All = ["naive"];

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
        _ => throw new ArgumentException("unknown backend " + name),
    };
}
