using System.Collections.Concurrent;
using Prometheus;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Per cluster: upstream connections (Envoy's <c>upstream_cx_total</c>, <c>upstream_cx_active</c>,
/// <c>upstream_cx_connect_fail</c>, <c>upstream_cx_protocol_error</c>) and the bytes they carry (<c>upstream_cx_rx_bytes_total</c>, <c>upstream_cx_tx_bytes_total</c>).
/// </summary>
public sealed class UpstreamConnectionStats
{
    private readonly Counter _connections;
    private readonly Gauge _active;
    private readonly Counter _connectFailures;
    private readonly Counter _received;
    private readonly Counter _sent;
    private readonly Counter _protocolErrors;
    private readonly ConcurrentDictionary<string, ClusterSeries> _series = new(StringComparer.Ordinal);

    public UpstreamConnectionStats(CollectorRegistry registry)
    {
        var factory = StatsFactory.For(registry);
        _connections = factory.CreateCounter("proxymesh_upstream_cx_total", "Upstream connections attempted.", "cluster");
        _active = factory.CreateGauge("proxymesh_upstream_cx_active", "Upstream connections open.", "cluster");
        _connectFailures = factory.CreateCounter("proxymesh_upstream_cx_connect_fail_total", "Upstream connection attempts that failed or timed out.", "cluster");
        _received = factory.CreateCounter("proxymesh_upstream_cx_rx_bytes_total", "Bytes received from upstream hosts.", "cluster");
        _sent = factory.CreateCounter("proxymesh_upstream_cx_tx_bytes_total", "Bytes sent to upstream hosts.", "cluster");
        _protocolErrors = factory.CreateCounter(
            "proxymesh_upstream_cx_protocol_error_total", "Upstream responses refused for breaking the HTTP protocol (e.g. CR, LF or NUL in a header value).", "cluster");
    }

    public ClusterSeries For(string cluster) => _series.GetOrAdd(cluster, static (name, stats) => new ClusterSeries(stats, name), this);

    /// <summary>The series of one cluster.</summary>
    public sealed class ClusterSeries
    {
        internal ClusterSeries(UpstreamConnectionStats stats, string cluster)
        {
            Connections = stats._connections.WithLabels(cluster);
            Active = stats._active.WithLabels(cluster);
            ConnectFailures = stats._connectFailures.WithLabels(cluster);
            Received = stats._received.WithLabels(cluster);
            Sent = stats._sent.WithLabels(cluster);
            ProtocolErrors = stats._protocolErrors.WithLabels(cluster);
        }

        public Counter.Child Connections { get; }

        public Gauge.Child Active { get; }

        public Counter.Child ConnectFailures { get; }

        public Counter.Child Received { get; }

        public Counter.Child Sent { get; }

        public Counter.Child ProtocolErrors { get; }
    }
}
