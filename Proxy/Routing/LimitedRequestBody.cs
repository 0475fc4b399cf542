using ProxyMesh.Proxy.Utilities;

namespace ProxyMesh.Proxy.Routing;

/// <summary>
/// A request body that fails, as Kestrel's own limit does (<see cref="BadHttpRequestException"/> with 413), once more
/// than <c>limit</c> bytes have been read from it; the bytes past the limit are never handed on.
/// </summary>
internal sealed class LimitedRequestBody(Stream inner, long limit) : ReadOnlyStream
{
    private long _read;

    /// <summary>True once the body grew past the limit.</summary>
    public bool Exceeded { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken));

    private int Count(int read)
    {
        _read += read;
        if (_read > limit)
        {
            Exceeded = true;
            throw new BadHttpRequestException($"Request body too large. The route's limit is {limit} bytes.", StatusCodes.Status413PayloadTooLarge);
        }

        return read;
    }
}
