using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Prometheus;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// The bounded hand-off between requests and the writer: a request never waits for logging; when the queue is full
/// its entry is dropped and counted.
/// </summary>
internal sealed class AccessLogQueue
{
    private readonly Channel<AccessLogEntry> _channel;
    private readonly Counter _dropped;

    public AccessLogQueue(IOptions<AccessLogOptions> options, CollectorRegistry registry)
    {
        _channel = Channel.CreateBounded<AccessLogEntry>(new BoundedChannelOptions(options.Value.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _dropped = Metrics.WithCustomRegistry(registry)
            .CreateCounter("proxymesh_access_log_dropped_total", "Access log entries dropped because the writer fell behind.");
    }

    public ChannelReader<AccessLogEntry> Reader => _channel.Reader;

    public void Enqueue(AccessLogEntry entry)
    {
        if (!_channel.Writer.TryWrite(entry))
        {
            _dropped.Inc();
        }
    }

    public void Complete() => _channel.Writer.TryComplete();
}
