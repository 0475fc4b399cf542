using System.Buffers.Binary;

namespace ProxyMesh.Proxy.Grpc.Framing;

/// <summary>
/// A gRPC request body as YARP reads it, checked frame by frame on the way without copying: each 5-byte header is read
/// and its payload skipped. A bad header stops the read before its bytes are returned, so the upstream never sees
/// the frame; a body that ends inside a message never reaches the upstream as complete.
/// </summary>
internal sealed class GrpcFrameCheckingStream(Stream inner, int maxMessageBytes, bool compressionNegotiated) : Stream
{
    private const byte CompressedFlag = 0x01;

    private readonly byte[] _header = new byte[GrpcProtocol.FrameHeaderLength];
    private int _headerBytesSeen;
    private long _payloadRemaining;

    /// <summary>The problem found, once the stream has refused to go on.</summary>
    public GrpcFramingException? Failure { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfFailed();
        var read = await inner.ReadAsync(buffer, cancellationToken);
        Check(buffer.Span[..read], endOfBody: read == 0 && !buffer.IsEmpty);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        ThrowIfFailed();
        var read = inner.Read(buffer, offset, count);
        Check(buffer.AsSpan(offset, read), endOfBody: read == 0 && count > 0);
        return read;
    }

    /// <param name="endOfBody">The body has ended (a zero-byte read, which YARP makes to wait for data, is not an end).</param>
    private void Check(ReadOnlySpan<byte> data, bool endOfBody)
    {
        if (endOfBody && (_headerBytesSeen > 0 || _payloadRemaining > 0))
        {
            Fail(GrpcFramingProblem.Truncated, "the request body ended inside a gRPC message");
        }

        while (!data.IsEmpty)
        {
            if (_payloadRemaining > 0)
            {
                var skipped = (int)Math.Min(_payloadRemaining, data.Length);
                _payloadRemaining -= skipped;
                data = data[skipped..];
                continue;
            }

            var take = Math.Min(GrpcProtocol.FrameHeaderLength - _headerBytesSeen, data.Length);
            data[..take].CopyTo(_header.AsSpan(_headerBytesSeen));
            data = data[take..];
            _headerBytesSeen += take;
            if (_headerBytesSeen < GrpcProtocol.FrameHeaderLength)
            {
                return;
            }

            _headerBytesSeen = 0;
            var length = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(1));
            if (length > (uint)maxMessageBytes)
            {
                Fail(GrpcFramingProblem.TooLarge, $"gRPC message of {length} bytes is larger than the limit of {maxMessageBytes}");
            }

            if ((_header[0] & CompressedFlag) != 0 && !compressionNegotiated)
            {
                Fail(GrpcFramingProblem.CompressedWithoutEncoding, "gRPC message flagged compressed, but the call has no grpc-encoding");
            }

            _payloadRemaining = length;
        }
    }

    private void Fail(GrpcFramingProblem problem, string message)
    {
        Failure = new GrpcFramingException(problem, message);
        throw Failure;
    }

    private void ThrowIfFailed()
    {
        if (Failure is not null)
        {
            throw Failure;
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
