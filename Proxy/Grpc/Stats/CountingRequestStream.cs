namespace ProxyMesh.Proxy.Grpc.Stats;

/// <summary>The request body as YARP reads it, with its gRPC messages counted on the way.</summary>
internal sealed class CountingRequestStream(Stream inner) : Stream
{
    private GrpcFrameCounter _counter;

    public long Messages => _counter.Messages;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>A read that completes at once (the body often arrives with the headers) is counted without an async frame.</summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = inner.ReadAsync(buffer, cancellationToken);
        return read.IsCompletedSuccessfully ? new ValueTask<int>(Counted(buffer, read.Result)) : CountWhenReadAsync(read, buffer);
    }

    private async ValueTask<int> CountWhenReadAsync(ValueTask<int> read, Memory<byte> buffer) => Counted(buffer, await read);

    private int Counted(Memory<byte> buffer, int read)
    {
        _counter.Observe(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = inner.Read(buffer, offset, count);
        _counter.Observe(buffer.AsSpan(offset, read));
        return read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
