using System.Buffers;
using System.Buffers.Text;

namespace ProxyMesh.Proxy.Grpc.Web;

/// <summary>
/// Decodes a <c>application/grpc-web-text</c> request body as it is read. gRPC-Web clients may base64-encode each
/// message on its own, so padding can end any 4-character group, not only the last; chunks may split a group anywhere.
/// </summary>
internal sealed class Base64RequestStream(Stream encoded) : Stream
{
    private const int EncodedBufferSize = 16 * 1024;

    private readonly byte[] _encoded = ArrayPool<byte>.Shared.Rent(EncodedBufferSize);
    private readonly byte[] _decoded = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(EncodedBufferSize));
    private int _encodedCount;
    private int _decodedStart;
    private int _decodedEnd;
    private bool _disposed;

    /// <summary>Set once the body turned out not to be base64; reading then fails with <see cref="InvalidDataException"/>.</summary>
    public bool IsMalformed { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_decodedStart == _decodedEnd)
        {
            var read = await encoded.ReadAsync(_encoded.AsMemory(_encodedCount, EncodedBufferSize - _encodedCount), cancellationToken);
            if (read == 0)
            {
                if (_encodedCount != 0)
                {
                    throw Malformed("ends inside a 4-character group");
                }

                return 0;
            }

            _encodedCount += read;
            Decode();
        }

        var count = Math.Min(buffer.Length, _decodedEnd - _decodedStart);
        _decoded.AsSpan(_decodedStart, count).CopyTo(buffer.Span);
        _decodedStart += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Decodes every whole 4-character group buffered, a padded group ending a run; keeps the partial group.</summary>
    private void Decode()
    {
        var whole = _encodedCount - (_encodedCount % 4);
        var position = 0;
        var written = 0;
        while (position < whole)
        {
            var padding = _encoded.AsSpan(position, whole - position).IndexOf((byte)'=');
            var end = padding < 0 ? whole : position + ((padding / 4) + 1) * 4;
            var status = Base64.DecodeFromUtf8(_encoded.AsSpan(position, end - position), _decoded.AsSpan(written), out var consumed, out var produced);
            if (status != OperationStatus.Done || consumed != end - position)
            {
                throw Malformed("is not valid base64");
            }

            position = end;
            written += produced;
        }

        _encoded.AsSpan(whole, _encodedCount - whole).CopyTo(_encoded);
        _encodedCount -= whole;
        _decodedStart = 0;
        _decodedEnd = written;
    }

    private InvalidDataException Malformed(string problem)
    {
        IsMalformed = true;
        return new InvalidDataException($"The grpc-web-text request body {problem}.");
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            ArrayPool<byte>.Shared.Return(_encoded);
            ArrayPool<byte>.Shared.Return(_decoded);
        }

        base.Dispose(disposing);
    }
}
