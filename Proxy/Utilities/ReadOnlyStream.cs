namespace ProxyMesh.Proxy.Utilities;

/// <summary>
/// What every request body wrapper that only reads shares: no length, position, seeking or writing. A sealed subclass
/// implements <see cref="Stream.Read(byte[], int, int)"/> and <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>
/// (and <see cref="Stream.Read(Span{byte})"/> when it can read into a span); the array form of <c>ReadAsync</c> is the
/// memory form, so a read makes the calls it made before.
/// </summary>
internal abstract class ReadOnlyStream : Stream
{
    public sealed override bool CanRead => true;

    public sealed override bool CanSeek => false;

    public sealed override bool CanWrite => false;

    public sealed override long Length => throw new NotSupportedException();

    public sealed override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public sealed override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public sealed override void Flush()
    {
    }

    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public sealed override void SetLength(long value) => throw new NotSupportedException();

    public sealed override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
