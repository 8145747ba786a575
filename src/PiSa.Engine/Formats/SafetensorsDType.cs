namespace PiSa.Engine.Formats;

/// <summary>The element types a safetensors header may name (the safetensors spec's dtype strings).</summary>
public enum SafetensorsDType
{
    F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2,
}

public static class SafetensorsDTypes
{
    /// <summary>Parses a header dtype string; false for anything the spec does not define.</summary>
    public static bool TryParse(string text, out SafetensorsDType dtype)
    {
        // A switch instead of Enum.TryParse: exact, case-sensitive, and no numeric strings ("3") slip through.
        switch (text)
        {
            case "F64": dtype = SafetensorsDType.F64; return true;
            case "F32": dtype = SafetensorsDType.F32; return true;
            case "F16": dtype = SafetensorsDType.F16; return true;
            case "BF16": dtype = SafetensorsDType.BF16; return true;
            case "I64": dtype = SafetensorsDType.I64; return true;
            case "I32": dtype = SafetensorsDType.I32; return true;
            case "I16": dtype = SafetensorsDType.I16; return true;
            case "I8": dtype = SafetensorsDType.I8; return true;
            case "U64": dtype = SafetensorsDType.U64; return true;
            case "U32": dtype = SafetensorsDType.U32; return true;
            case "U16": dtype = SafetensorsDType.U16; return true;
            case "U8": dtype = SafetensorsDType.U8; return true;
            case "BOOL": dtype = SafetensorsDType.BOOL; return true;
            case "F8_E4M3": dtype = SafetensorsDType.F8_E4M3; return true;
            case "F8_E5M2": dtype = SafetensorsDType.F8_E5M2; return true;
            default: dtype = default; return false;
        }
    }

    public static int SizeOf(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 or SafetensorsDType.I64 or SafetensorsDType.U64 => 8,
        SafetensorsDType.F32 or SafetensorsDType.I32 or SafetensorsDType.U32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.I16 or SafetensorsDType.U16 => 2,
        _ => 1,
    };

    public static string Name(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 => "F64", SafetensorsDType.F32 => "F32", SafetensorsDType.F16 => "F16",
        SafetensorsDType.BF16 => "BF16", SafetensorsDType.I64 => "I64", SafetensorsDType.I32 => "I32",
        SafetensorsDType.I16 => "I16", SafetensorsDType.I8 => "I8", SafetensorsDType.U64 => "U64",
        SafetensorsDType.U32 => "U32", SafetensorsDType.U16 => "U16", SafetensorsDType.U8 => "U8",
        SafetensorsDType.BOOL => "BOOL", SafetensorsDType.F8_E4M3 => "F8_E4M3", SafetensorsDType.F8_E5M2 => "F8_E5M2",
        _ => dtype.ToString(),
    };

    /// <summary>True for the types <see cref="SafetensorsFile.ReadFloat"/> converts to float32.</summary>
    public static bool IsFloat(SafetensorsDType dtype) =>
        dtype is SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.F64;
}
