using PiSa.Engine.Backends;
using PiSa.Engine.Pipeline;

namespace PiSa.Tests;

/// <summary>The tiny golden model of tests/fixtures/pisa-tiny (its SD folder and the official-format LoRA
/// checkpoint), loaded on a backend as the in-process tests load it.</summary>
public static class TinyFixtureModel
{
    public static string Sd => Path.Combine(FixturePaths.Tiny, "sd");
    public static string Lora => Path.Combine(FixturePaths.Tiny, "pisa_sr.pkl");

    public static PisaModel Load(IOps ops, long weightSetBudgetBytes = PisaModel.DefaultWeightSetBudgetBytes) =>
        PisaModel.Load(Sd, Lora, ops, weightSetBudgetBytes);
}
