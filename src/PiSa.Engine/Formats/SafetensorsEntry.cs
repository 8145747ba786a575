namespace PiSa.Engine.Formats;

/// <summary>
/// One tensor of a safetensors file as its (validated) header describes it. Offsets are relative to the
/// start of the data section, i.e. the byte after the JSON header, as in the file format.
/// </summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, int[] Shape, long Begin, long End)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Shape) n *= d; // validated at open: cannot overflow
            return n;
        }
    }

    public long ByteLength => End - Begin;
}
