using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Prometheus;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// The bounded hand-off between requests (and TCP connections) and the writer: a request never waits for logging; when
/// the queue is full its entry is dropped and counted. Entries are <see cref="AccessLogEntry"/> (HTTP) or
/// <see cref="TcpAccessLogEntry"/> (TCP).
/// </summary>
internal sealed class AccessLogQueue
{
    private readonly Channel<object> _channel;
    private readonly Counter _dropped;
    private readonly bool _enabled;

    public AccessLogQueue(IOptions<AccessLogOptions> options, CollectorRegistry registry)
    {
        _enabled = options.Value.Enabled;
        _channel = Channel.CreateBounded<object>(new BoundedChannelOptions(options.Value.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _dropped = StatsFactory.For(registry)
            .CreateCounter("proxymesh_access_log_dropped_total", "Access log entries dropped because the writer fell behind.");
    }

    internal ChannelReader<object> Reader => _channel.Reader;

    internal void Enqueue(AccessLogEntry entry) => TryEnqueue(entry);

    /// <summary>Logs one closed TCP connection, unless the access log is disabled.</summary>
    public void Enqueue(TcpAccessLogEntry entry)
    {
        if (_enabled)
        {
            TryEnqueue(entry);
        }
    }

    private void TryEnqueue(object entry)
    {
        if (!_channel.Writer.TryWrite(entry))
        {
            _dropped.Inc();
        }
    }

    internal void Complete() => _channel.Writer.TryComplete();
}
