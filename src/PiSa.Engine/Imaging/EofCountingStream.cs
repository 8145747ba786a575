namespace PiSa.Engine.Imaging;

/// <summary>
/// A read-only, seekable stream over a byte array that counts every attempt to read past its end.
/// stb_image substitutes zeros for missing bytes instead of failing (a truncated BMP or TGA decodes
/// "successfully" with a black tail), while Pillow refuses truncated files; after a decode, a non-zero
/// <see cref="ReadsPastEnd"/> tells us the file was shorter than the decoder needed.
/// </summary>
internal sealed class EofCountingStream : Stream
{
    private readonly byte[] _data;
    private long _position;

    public EofCountingStream(byte[] data) => _data = data;

    public int ReadsPastEnd { get; private set; }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _data.LongLength;

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new IOException("seek before the start of the image data");
    }

    public override int ReadByte()
    {
        if (_position >= _data.LongLength) { ReadsPastEnd++; return -1; }
        return _data[_position++];
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        long available = Math.Max(0, _data.LongLength - _position);
        int n = (int)Math.Min(count, available);
        if (n < count) ReadsPastEnd++;
        Array.Copy(_data, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _data.LongLength + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
