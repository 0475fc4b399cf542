using System.Collections.Concurrent;
using Prometheus;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Envoy's <c>tcp_proxy</c> statistics per listener and cluster, as Prometheus series (<c>downstream_cx_total</c> →
/// <c>proxymesh_tcp_downstream_cx_total</c>, <c>idle_timeout</c> → <c>proxymesh_tcp_idle_timeout_total</c> …). The TCP
/// proxy reports into it; label children are resolved once per listener and cluster, so recording allocates nothing.
/// </summary>
public sealed class TcpProxyStats
{
    /// <summary>Connection lengths, 1 ms to about 2.3 h, ×2 per bucket (Envoy's <c>upstream_cx_length_ms</c>).</summary>
    private static readonly double[] LengthBuckets = Histogram.ExponentialBuckets(start: 0.001, factor: 2, count: 24);

    private readonly Counter _connections;
    private readonly Gauge _active;
    private readonly Counter _received;
    private readonly Counter _sent;
    private readonly Counter _connectFailures;
    private readonly Counter _connectAttemptsExceeded;
    private readonly Counter _noneHealthy;
    private readonly Counter _overflow;
    private readonly Counter _idleTimeouts;
    private readonly Counter _maxDuration;
    private readonly Counter _drainClosed;
    private readonly Counter _filterClosed;
    private readonly Counter _callersDenied;
    private readonly Histogram _length;
    private readonly ConcurrentDictionary<(string Listener, string Cluster), Series> _series = new();

    public TcpProxyStats(CollectorRegistry registry)
    {
        var factory = StatsFactory.For(registry);
        string[] labels = ["listener", "cluster"];
        _connections = factory.CreateCounter("proxymesh_tcp_downstream_cx_total", "TCP connections accepted by a TCP proxy listener.", labels);
        _active = factory.CreateGauge("proxymesh_tcp_downstream_cx_active", "TCP proxy connections open.", labels);
        _received = factory.CreateCounter("proxymesh_tcp_downstream_cx_rx_bytes_total", "Bytes received from downstream clients (and sent upstream).", labels);
        _sent = factory.CreateCounter("proxymesh_tcp_downstream_cx_tx_bytes_total", "Bytes sent to downstream clients (received from upstream).", labels);
        _connectFailures = factory.CreateCounter("proxymesh_tcp_upstream_cx_connect_fail_total", "Upstream connection attempts that failed, timed out or failed the TLS handshake.", labels);
        _connectAttemptsExceeded = factory.CreateCounter(
            "proxymesh_tcp_upstream_cx_connect_attempts_exceeded_total", "Downstream connections closed because every allowed upstream connect attempt failed.", labels);
        _noneHealthy = factory.CreateCounter("proxymesh_tcp_upstream_cx_none_healthy_total", "Downstream connections closed because the cluster had no available host.", labels);
        _overflow = factory.CreateCounter("proxymesh_tcp_upstream_cx_overflow_total", "Downstream connections closed at once by the cluster's max_connections circuit breaker.", labels);
        _idleTimeouts = factory.CreateCounter("proxymesh_tcp_idle_timeout_total", "Connections closed after IdleTimeout without a byte either way.", labels);
        _maxDuration = factory.CreateCounter("proxymesh_tcp_max_downstream_connection_duration_total", "Connections closed on reaching MaxConnectionDuration.", labels);
        _drainClosed = factory.CreateCounter(
            "proxymesh_tcp_downstream_cx_drain_closed_total", "Connections refused while draining, or still open at the drain deadline and closed.", labels);
        _filterClosed = factory.CreateCounter("proxymesh_tcp_downstream_cx_filter_closed_total", "Connections a network filter closed.", labels);
        _callersDenied = factory.CreateCounter(
            "proxymesh_tcp_downstream_cx_caller_denied_total", "Connections closed because the caller's certificate identity is not in AllowedCallers.", labels);
        _length = factory.CreateHistogram(
            "proxymesh_tcp_downstream_cx_length_seconds",
            "How long TCP proxy connections stayed open.",
            new HistogramConfiguration { LabelNames = labels, Buckets = LengthBuckets });
    }

    public Series For(string listener, string cluster) =>
        _series.GetOrAdd((listener, cluster), static (key, stats) => new Series(stats, key.Listener, key.Cluster), this);

    /// <summary>The series of one listener and cluster.</summary>
    public sealed class Series
    {
        internal Series(TcpProxyStats stats, string listener, string cluster)
        {
            Connections = stats._connections.WithLabels(listener, cluster);
            Active = stats._active.WithLabels(listener, cluster);
            Received = stats._received.WithLabels(listener, cluster);
            Sent = stats._sent.WithLabels(listener, cluster);
            ConnectFailures = stats._connectFailures.WithLabels(listener, cluster);
            ConnectAttemptsExceeded = stats._connectAttemptsExceeded.WithLabels(listener, cluster);
            NoneHealthy = stats._noneHealthy.WithLabels(listener, cluster);
            Overflow = stats._overflow.WithLabels(listener, cluster);
            IdleTimeouts = stats._idleTimeouts.WithLabels(listener, cluster);
            MaxDuration = stats._maxDuration.WithLabels(listener, cluster);
            DrainClosed = stats._drainClosed.WithLabels(listener, cluster);
            FilterClosed = stats._filterClosed.WithLabels(listener, cluster);
            CallersDenied = stats._callersDenied.WithLabels(listener, cluster);
            Length = stats._length.WithLabels(listener, cluster);
        }

        public Counter.Child Connections { get; }

        public Gauge.Child Active { get; }

        public Counter.Child Received { get; }

        public Counter.Child Sent { get; }

        public Counter.Child ConnectFailures { get; }

        public Counter.Child ConnectAttemptsExceeded { get; }

        public Counter.Child NoneHealthy { get; }

        public Counter.Child Overflow { get; }

        public Counter.Child IdleTimeouts { get; }

        public Counter.Child MaxDuration { get; }

        public Counter.Child DrainClosed { get; }

        public Counter.Child FilterClosed { get; }

        public Counter.Child CallersDenied { get; }

        public Histogram.Child Length { get; }
    }
}
