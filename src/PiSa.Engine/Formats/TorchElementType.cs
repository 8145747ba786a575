namespace PiSa.Engine.Formats;

/// <summary>Element types of the torch storages the checkpoint reader accepts.</summary>
public enum TorchElementType { Float32, Float16, BFloat16, Float64, Int64, Int32, UInt8 }

public static class TorchElementTypes
{
    public static int SizeOf(TorchElementType t) => t switch
    {
        TorchElementType.Float64 or TorchElementType.Int64 => 8,
        TorchElementType.Float32 or TorchElementType.Int32 => 4,
        TorchElementType.Float16 or TorchElementType.BFloat16 => 2,
        _ => 1,
    };

    public static string Name(TorchElementType t) => t switch
    {
        TorchElementType.Float32 => "F32", TorchElementType.Float16 => "F16", TorchElementType.BFloat16 => "BF16",
        TorchElementType.Float64 => "F64", TorchElementType.Int64 => "I64", TorchElementType.Int32 => "I32",
        _ => "U8",
    };
}
