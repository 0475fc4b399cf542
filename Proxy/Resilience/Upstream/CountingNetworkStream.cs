using System.Net.Sockets;

using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// An upstream connection's stream that counts the bytes it carries and the connection's lifetime, and gives back its
/// circuit-breaker slot (<paramref name="slot"/>) when closed.
/// </summary>
internal sealed class CountingNetworkStream(Socket socket, UpstreamConnectionStats.ClusterSeries stats, IDisposable? slot = null) : NetworkStream(socket, ownsSocket: true)
{
    private int _disposed;

    public override int Read(Span<byte> buffer) => Received(base.Read(buffer));

    public override int Read(byte[] buffer, int offset, int count) => Received(base.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Received(await base.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        base.Write(buffer);
        stats.Sent.Inc(buffer.Length);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await base.WriteAsync(buffer, cancellationToken);
        stats.Sent.Inc(buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            stats.Active.Dec();
            slot?.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Received(int count)
    {
        stats.Received.Inc(count);
        return count;
    }
}
