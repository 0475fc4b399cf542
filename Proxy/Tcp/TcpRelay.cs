using System.Buffers;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Tcp.Transport;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Moves the bytes of one proxied connection both ways until both sides have finished, as Envoy's tcp_proxy: each
/// direction ends with a half-close of the other side (so a peer that stops sending still receives), filters see every
/// buffer in place before it is forwarded, and the connection closes on IdleTimeout, MaxConnectionDuration, the drain
/// deadline, a filter's verdict or a reset of either side.
/// </summary>
internal sealed class TcpRelay : IDisposable
{
    private readonly ConnectionContext _downstream;
    private readonly DownstreamOutput _output;
    private readonly TcpUpstreamConnection _upstream;
    private readonly ITcpFilter[] _filters;
    private readonly TcpProxyStats.Series _stats;
    private readonly UpstreamConnectionStats.ClusterSeries _clusterStats;
    private readonly TimeProvider _time;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeSpan _maxDuration;
    private readonly long _start;
    private readonly CancellationTokenSource _closed = new();
    private ITimer? _timer;
    private long _lastActivity;
    private int _reason;
    private int _initiator;

    public TcpRelay(
        ConnectionContext downstream,
        DownstreamOutput output,
        TcpUpstreamConnection upstream,
        ITcpFilter[] filters,
        TcpListenerOptions options,
        TcpProxyStats.Series stats,
        UpstreamConnectionStats.ClusterSeries clusterStats,
        TimeProvider time,
        long start)
    {
        _downstream = downstream;
        _output = output;
        _upstream = upstream;
        _filters = filters;
        _stats = stats;
        _clusterStats = clusterStats;
        _time = time;
        _idleTimeout = options.IdleTimeout;
        _maxDuration = options.MaxConnectionDuration;
        _start = start;
        _lastActivity = time.GetTimestamp();
    }

    public long BytesReceived { get; private set; }

    public long BytesSent { get; private set; }

    public TcpCloseReason Reason => (TcpCloseReason)Volatile.Read(ref _reason);

    /// <summary>Who ended the connection: the client if its side ended before the upstream's and before the proxy closed anything.</summary>
    public TcpCloseInitiator Initiator => Volatile.Read(ref _initiator) == 1 + (int)TcpCloseInitiator.Remote ? TcpCloseInitiator.Remote : TcpCloseInitiator.Local;

    /// <summary>Closes the connection (once; the first reason wins).</summary>
    /// <returns>Whether this call closed it.</returns>
    public bool Close(TcpCloseReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, 0) != 0)
        {
            return false;
        }

        Ended(TcpCloseInitiator.Local);
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // A timer callback already under way when the relay finished: nothing left to close.
        }

        _upstream.Abort(); // Ends a gathered send, which takes no token.
        return true;
    }

    /// <returns>true when both sides finished on their own; false when the relay closed the connection.</returns>
    public async Task<bool> RunAsync(CancellationToken drainDeadline, CancellationToken shutdown)
    {
        using var onDrain = drainDeadline.UnsafeRegister(static state => ((TcpRelay)state!).CloseAtDrainDeadline(), this);
        using var onShutdown = shutdown.UnsafeRegister(static state => ((TcpRelay)state!).Close(TcpCloseReason.Shutdown), this);
        var firstDue = NextDue(_time.GetTimestamp());
        if (firstDue != Timeout.InfiniteTimeSpan)
        {
            _timer = _time.CreateTimer(static state => ((TcpRelay)state!).OnTimer(), this, firstDue, Timeout.InfiniteTimeSpan);
        }

        var toUpstream = PumpDownstreamAsync();
        var toDownstream = PumpUpstreamAsync();
        await Task.WhenAll(toUpstream, toDownstream);
        return Reason == TcpCloseReason.None;
    }

    private async Task PumpDownstreamAsync()
    {
        var input = _downstream.Transport.Input;
        var token = _closed.Token;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(token);
                var buffer = result.Buffer;
                try
                {
                    if (!buffer.IsEmpty && !await ForwardDownstreamAsync(buffer, token))
                    {
                        return;
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.End);
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }

            Ended(TcpCloseInitiator.Remote);

            try
            {
                await _upstream.ShutdownSendAsync();
            }
            catch (Exception e) when (IsReset(e))
            {
                Close(TcpCloseReason.UpstreamReset);
            }
        }
        catch (Exception e) when (IsConnectionEnd(e))
        {
            if (Reason == TcpCloseReason.None)
            {
                Ended(TcpCloseInitiator.Remote); // The client reset.
            }

            Close(TcpCloseReason.Error);
        }
    }

    /// <summary>Records the first side to end (later ends change nothing).</summary>
    private void Ended(TcpCloseInitiator initiator) => Interlocked.CompareExchange(ref _initiator, 1 + (int)initiator, 0);

    private async ValueTask<bool> ForwardDownstreamAsync(ReadOnlySequence<byte> buffer, CancellationToken token)
    {
        foreach (var filter in _filters)
        {
            if (await filter.OnDownstreamDataAsync(buffer, token) == TcpFilterVerdict.Close)
            {
                CloseByFilter();
                return false;
            }
        }

        try
        {
            await _upstream.SendAsync(buffer, token);
        }
        catch (Exception e) when (IsReset(e))
        {
            Close(TcpCloseReason.UpstreamReset);
            return false;
        }

        var length = buffer.Length;
        BytesReceived += length;
        _stats.Received.Inc(length);
        _clusterStats.Sent.Inc(length);
        Volatile.Write(ref _lastActivity, _time.GetTimestamp());
        return true;
    }

    private async Task PumpUpstreamAsync()
    {
        var token = _closed.Token;
        try
        {
            while (true)
            {
                var memory = _output.GetMemory();
                int read;
                try
                {
                    read = await _upstream.Stream.ReadAsync(memory, token);
                }
                catch (Exception e) when (IsReset(e))
                {
                    Close(TcpCloseReason.UpstreamReset);
                    return;
                }

                if (read == 0)
                {
                    Ended(TcpCloseInitiator.Local);
                    break;
                }

                if (read == memory.Length && InlineSocketCompletions.OnEventThread)
                {
                    await Task.Yield(); // A bulk transfer: on to the thread pool (InlineSocketCompletions.OnEventThread).
                }

                if (!ForwardUpstream(memory[..read]))
                {
                    return;
                }

                await _output.SendAsync(read, token);
                BytesSent += read;
                _stats.Sent.Inc(read);
                _clusterStats.Received.Inc(read);
                Volatile.Write(ref _lastActivity, _time.GetTimestamp());
            }

            await _output.ShutdownSendAsync();
        }
        catch (Exception e) when (IsConnectionEnd(e))
        {
            Close(TcpCloseReason.Error);
        }
    }

    private bool ForwardUpstream(ReadOnlyMemory<byte> data)
    {
        if (_filters.Length == 0)
        {
            return true;
        }

        var sequence = new ReadOnlySequence<byte>(data);
        foreach (var filter in _filters)
        {
            if (filter.OnUpstreamData(sequence) == TcpFilterVerdict.Close)
            {
                CloseByFilter();
                return false;
            }
        }

        return true;
    }

    private void CloseByFilter()
    {
        if (Close(TcpCloseReason.Filter))
        {
            _stats.FilterClosed.Inc();
        }
    }

    private void CloseAtDrainDeadline()
    {
        if (Close(TcpCloseReason.Drain))
        {
            _stats.DrainClosed.Inc();
        }
    }

    private void OnTimer()
    {
        var now = _time.GetTimestamp();
        if (_maxDuration > TimeSpan.Zero && _time.GetElapsedTime(_start, now) >= _maxDuration)
        {
            if (Close(TcpCloseReason.MaxDuration))
            {
                _stats.MaxDuration.Inc();
            }

            return;
        }

        if (_idleTimeout > TimeSpan.Zero && _time.GetElapsedTime(Volatile.Read(ref _lastActivity), now) >= _idleTimeout)
        {
            if (Close(TcpCloseReason.IdleTimeout))
            {
                _stats.IdleTimeouts.Inc();
            }

            return;
        }

        if (Reason == TcpCloseReason.None)
        {
            _timer?.Change(NextDue(now), Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The sooner of the idle deadline (from the last byte moved) and the duration deadline; re-armed rather than reset per byte.</summary>
    private TimeSpan NextDue(long now)
    {
        var due = Timeout.InfiniteTimeSpan;
        if (_idleTimeout > TimeSpan.Zero)
        {
            due = _idleTimeout - _time.GetElapsedTime(Volatile.Read(ref _lastActivity), now);
        }

        if (_maxDuration > TimeSpan.Zero)
        {
            var left = _maxDuration - _time.GetElapsedTime(_start, now);
            due = due == Timeout.InfiniteTimeSpan || left < due ? left : due;
        }

        return due == Timeout.InfiniteTimeSpan ? due : due < TimeSpan.Zero ? TimeSpan.Zero : due;
    }

    /// <summary>A reset (or broken pipe) seen on the upstream socket while the connection was still open.</summary>
    private bool IsReset(Exception e) =>
        Reason == TcpCloseReason.None
        && (e as SocketException ?? e.InnerException as SocketException)?.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown;

    private static bool IsConnectionEnd(Exception e) =>
        e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or ConnectionAbortedException
            or ConnectionResetException or InvalidOperationException;

    public void Dispose()
    {
        _timer?.Dispose();
        _closed.Dispose();
    }
}
