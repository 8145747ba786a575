namespace PiSa.Engine;

/// <summary>
/// An expected failure with a one-line, user-facing message (bad input file, missing weight, unsupported
/// config option...). The CLI prints only the message and exits non-zero; anything else is a bug.
/// </summary>
public class PisaException : Exception
{
    public PisaException(string message) : base(message) { }
    public PisaException(string message, Exception inner) : base(message, inner) { }
}
