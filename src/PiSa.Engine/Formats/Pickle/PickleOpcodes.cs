namespace PiSa.Engine.Formats.Pickle;

/// <summary>Pickle opcode bytes (Python's pickletools names). Only the first group is interpreted.</summary>
internal static class PickleOpcodes
{
    public const byte PROTO = 0x80, FRAME = 0x95, STOP = (byte)'.';
    public const byte GLOBAL = (byte)'c', STACK_GLOBAL = 0x93, REDUCE = (byte)'R', BINPERSID = (byte)'Q';
    public const byte EMPTY_DICT = (byte)'}', EMPTY_LIST = (byte)']', EMPTY_TUPLE = (byte)')', MARK = (byte)'(';
    public const byte TUPLE = (byte)'t', TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87;
    public const byte SETITEM = (byte)'s', SETITEMS = (byte)'u', APPEND = (byte)'a', APPENDS = (byte)'e';
    public const byte BINUNICODE = (byte)'X', SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d;
    public const byte BININT = (byte)'J', BININT1 = (byte)'K', BININT2 = (byte)'M', LONG1 = 0x8a, BINFLOAT = (byte)'G';
    public const byte NEWTRUE = 0x88, NEWFALSE = 0x89, NONE = (byte)'N';
    public const byte BINPUT = (byte)'q', LONG_BINPUT = (byte)'r', BINGET = (byte)'h', LONG_BINGET = (byte)'j', MEMOIZE = 0x94;

    /// <summary>Names of opcodes we refuse, so the error says what the file tried to do.</summary>
    public static string Describe(byte op) => op switch
    {
        (byte)'i' => "INST",
        (byte)'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        (byte)'b' => "BUILD",
        (byte)'P' => "PERSID",
        0x82 or 0x83 or 0x84 => "EXT",
        (byte)'S' => "STRING",
        (byte)'V' => "UNICODE",
        (byte)'I' => "INT",
        (byte)'L' => "LONG",
        (byte)'F' => "FLOAT",
        (byte)'d' => "DICT",
        (byte)'l' => "LIST",
        (byte)'g' => "GET",
        (byte)'p' => "PUT",
        (byte)'0' => "POP",
        (byte)'1' => "POP_MARK",
        (byte)'2' => "DUP",
        0x8b => "LONG4",
        0x8e or 0x8f or 0x90 or 0x91 or 0x96 or 0x97 or 0x98 => "a protocol-4/5 container or buffer opcode",
        (byte)'B' or (byte)'C' => "BINBYTES",
        _ => $"0x{op:X2}",
    };
}
