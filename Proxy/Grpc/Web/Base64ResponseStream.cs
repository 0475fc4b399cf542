using System.Buffers;
using System.Buffers.Text;

namespace ProxyMesh.Proxy.Grpc.Web;

/// <summary>
/// Base64-encodes a <c>application/grpc-web-text</c> response as it is written. Each write is encoded on its own,
/// padding included, as Envoy's grpc_web filter does: a streamed message reaches the client without waiting for the
/// next, and gRPC-Web clients decode padded groups anywhere in the body.
/// </summary>
internal sealed class Base64ResponseStream(Stream inner) : Stream
{
    private const int ChunkSize = 12 * 1024; // a multiple of 3: only the last chunk of a write can need padding

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return;
        }

        var encoded = ArrayPool<byte>.Shared.Rent(Base64.GetMaxEncodedToUtf8Length(Math.Min(buffer.Length, ChunkSize)));
        try
        {
            while (!buffer.IsEmpty)
            {
                var chunk = buffer[..Math.Min(buffer.Length, ChunkSize)];
                Base64.EncodeToUtf8(chunk.Span, encoded, out _, out var written);
                await inner.WriteAsync(encoded.AsMemory(0, written), cancellationToken);
                buffer = buffer[chunk.Length..];
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(encoded);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
