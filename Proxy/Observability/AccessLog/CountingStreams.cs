using ProxyMesh.Proxy.Utilities;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>The downstream request body as read by the proxy, counting bytes into the observation.</summary>
internal sealed class CountingRequestBody(Stream inner, RequestObservation observation) : ReadOnlyStream
{
    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken));

    private int Count(int read)
    {
        observation.Received(read);
        return read;
    }
}
