namespace ProxyMesh.Proxy.Grpc.Bridge;

/// <summary>A protobuf request body read as one gRPC message: the 5-byte frame header, then the body as it arrives.</summary>
internal sealed class FramedRequestStream(Stream body, long length) : Stream
{
    private readonly byte[] _header = Header(length);
    private int _headerSent;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_headerSent < _header.Length && !buffer.IsEmpty)
        {
            var count = Math.Min(buffer.Length, _header.Length - _headerSent);
            _header.AsSpan(_headerSent, count).CopyTo(buffer.Span);
            _headerSent += count;
            return ValueTask.FromResult(count);
        }

        return body.ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    private static byte[] Header(long length)
    {
        if (length > int.MaxValue)
        {
            throw new InvalidDataException("A gRPC message is at most 2 GiB - 1 bytes long.");
        }

        var header = new byte[GrpcProtocol.FrameHeaderLength];
        GrpcProtocol.WriteFrameHeader(header, 0, (int)length);
        return header;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
