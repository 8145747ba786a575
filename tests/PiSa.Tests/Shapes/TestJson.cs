using System.Text.Json.Serialization;

namespace PiSa.Tests.Shapes;

[JsonSerializable(typeof(List<string>))]
internal partial class TestJson : JsonSerializerContext;
