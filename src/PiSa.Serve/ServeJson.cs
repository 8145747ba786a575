using System.Text.Json;
using System.Text.Json.Serialization;

namespace PiSa.Serve;

public sealed record ErrorResponse(string Error);

/// <summary>An asynchronous job as GET /v1/jobs/{id} shows it.</summary>
public sealed record JobResponse(
    string Id, string State, int QueuePosition, string? Stage, int Tile, int Tiles, string? Error,
    DateTimeOffset Created, DateTimeOffset? Finished, double? QueueMs, double? RunMs);

// ---- Open Inference Protocol (KServe v2), JSON form -------------------------------------------------------

public sealed record OipServerMetadata(string Name, string Version, string[] Extensions);

public sealed record OipTensorMetadata(string Name, string Datatype, long[] Shape);

public sealed record OipModelMetadata(string Name, string[] Versions, string Platform, OipTensorMetadata[] Inputs, OipTensorMetadata[] Outputs);

public sealed class OipInferInput
{
    public string? Name { get; set; }
    public string? Datatype { get; set; }
    public long[]? Shape { get; set; }
    /// <summary>BYTES elements as JSON strings: the encoded image, base64.</summary>
    public JsonElement Data { get; set; }
}

public sealed class OipInferRequest
{
    public string? Id { get; set; }
    public List<OipInferInput>? Inputs { get; set; }
    /// <summary>Processing parameters by the same names as the /v1 query parameters.</summary>
    public Dictionary<string, JsonElement>? Parameters { get; set; }
}

public sealed record OipInferOutput(string Name, string Datatype, long[] Shape, string[] Data, Dictionary<string, string>? Parameters);

public sealed record OipInferResponse(string ModelName, string ModelVersion, string? Id, OipInferOutput[] Outputs);

public sealed record OipError(string Error);

/// <summary>Source-generated serialisers for every JSON the server reads or writes (no reflection: NativeAOT).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(JobResponse))]
[JsonSerializable(typeof(OipServerMetadata))]
[JsonSerializable(typeof(OipModelMetadata))]
[JsonSerializable(typeof(OipInferRequest))]
[JsonSerializable(typeof(OipInferResponse))]
public sealed partial class ServeJsonContext : JsonSerializerContext;
