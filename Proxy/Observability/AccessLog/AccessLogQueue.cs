using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Microsoft.Extensions.ObjectPool;
using Microsoft.Extensions.Options;
using Prometheus;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// The bounded hand-off between requests (and TCP connections) and the writer: a request never waits for logging; when
/// the queue is full its entry is dropped and counted. Entries are <see cref="AccessLogEntry"/> (HTTP) or
/// <see cref="TcpAccessLogEntry"/> (TCP). The queue is a single-reader channel bounded by a count of its own: the
/// writer waits on it without allocating (a bounded channel allocates a waiter each time the reader waits), and HTTP
/// entries are reused (<see cref="Rent"/>).
/// </summary>
internal sealed class AccessLogQueue
{
    private readonly Channel<object> _channel = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ObjectPool<AccessLogEntry> _entries;
    private readonly Counter _dropped;
    private readonly bool _enabled;
    private readonly int _capacity;
    private int _queued;

    public AccessLogQueue(IOptions<AccessLogOptions> options, CollectorRegistry registry)
    {
        _enabled = options.Value.Enabled;
        _capacity = options.Value.QueueCapacity;
        _entries = new DefaultObjectPool<AccessLogEntry>(new EntryPolicy(), Math.Min(_capacity, MaxPooledEntries));
        _dropped = StatsFactory.For(registry)
            .CreateCounter("proxymesh_access_log_dropped_total", "Access log entries dropped because the writer fell behind.");
    }

    /// <summary>Entries kept for reuse at most: what a burst needs, not the whole queue.</summary>
    private const int MaxPooledEntries = 1024;

    /// <summary>An entry to fill and <see cref="Enqueue(AccessLogEntry)"/>; it comes back once written.</summary>
    internal AccessLogEntry Rent() => _entries.Get();

    /// <summary>Gives an HTTP entry back for reuse, once written (or dropped).</summary>
    internal void Return(AccessLogEntry entry) => _entries.Return(entry);

    /// <summary>The next queued entry, for the writer (the only reader).</summary>
    internal bool TryRead([MaybeNullWhen(false)] out object entry)
    {
        if (!_channel.Reader.TryRead(out entry))
        {
            return false;
        }

        Interlocked.Decrement(ref _queued);
        return true;
    }

    /// <summary>Waits until an entry is queued; false once the queue is complete and empty.</summary>
    internal ValueTask<bool> WaitToReadAsync() => _channel.Reader.WaitToReadAsync(CancellationToken.None);

    internal void Enqueue(AccessLogEntry entry)
    {
        if (!TryEnqueue(entry))
        {
            Return(entry);
        }
    }

    /// <summary>Logs one closed TCP connection, unless the access log is disabled.</summary>
    public void Enqueue(TcpAccessLogEntry entry)
    {
        if (_enabled)
        {
            TryEnqueue(entry);
        }
    }

    private bool TryEnqueue(object entry)
    {
        if (Interlocked.Increment(ref _queued) <= _capacity && _channel.Writer.TryWrite(entry))
        {
            return true;
        }

        Interlocked.Decrement(ref _queued);
        _dropped.Inc();
        return false;
    }

    internal void Complete() => _channel.Writer.TryComplete();

    private sealed class EntryPolicy : PooledObjectPolicy<AccessLogEntry>
    {
        public override AccessLogEntry Create() => new();

        public override bool Return(AccessLogEntry entry)
        {
            entry.Clear();
            return true;
        }
    }
}
