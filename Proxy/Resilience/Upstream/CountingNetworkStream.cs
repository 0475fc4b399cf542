using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// An upstream connection's stream that counts the bytes it carries and the connection's lifetime, and gives back its
/// circuit-breaker slot (<paramref name="slot"/>) when closed. A read that does not complete at once (HttpClient keeps
/// one pending on every pooled connection) is counted when it completes through the stream itself, which is its own
/// reusable completion source: reads on a stream are one at a time, and an async method would allocate a frame per read.
/// </summary>
internal sealed class CountingNetworkStream(Socket socket, UpstreamConnectionStats.ClusterSeries stats, IDisposable? slot = null)
    : NetworkStream(socket, ownsSocket: true), IValueTaskSource<int>
{
    private int _disposed;
    private ManualResetValueTaskSourceCore<int> _pendingRead;
    private ValueTask<int> _innerRead;
    private Action? _completeRead;

    public override int Read(Span<byte> buffer) => Received(base.Read(buffer));

    public override int Read(byte[] buffer, int offset, int count) => Received(base.Read(buffer, offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = base.ReadAsync(buffer, cancellationToken);
        if (read.IsCompletedSuccessfully)
        {
            return new ValueTask<int>(Received(read.Result));
        }

        _pendingRead.Reset();
        _innerRead = read;
        read.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_completeRead ??= CompleteRead);
        return new ValueTask<int>(this, _pendingRead.Version);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        base.Write(buffer);
        stats.Sent.Inc(buffer.Length);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>A write the socket takes at once (the usual case) is counted without an async frame.</summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var write = base.WriteAsync(buffer, cancellationToken);
        if (!write.IsCompletedSuccessfully)
        {
            return CountWhenWrittenAsync(write, buffer.Length);
        }

        write.GetAwaiter().GetResult(); // Consumed, so that the socket's pooled completion source is reused.
        stats.Sent.Inc(buffer.Length);
        return default;
    }

    private async ValueTask CountWhenWrittenAsync(ValueTask write, int length)
    {
        await write;
        stats.Sent.Inc(length);
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

    private void CompleteRead()
    {
        var read = _innerRead;
        _innerRead = default;
        int count;
        try
        {
            count = read.Result;
        }
        catch (Exception e)
        {
            _pendingRead.SetException(e);
            return;
        }

        _pendingRead.SetResult(Received(count));
    }

    int IValueTaskSource<int>.GetResult(short token) => _pendingRead.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _pendingRead.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _pendingRead.OnCompleted(continuation, state, token, flags);

    private int Received(int count)
    {
        stats.Received.Inc(count);
        return count;
    }
}
