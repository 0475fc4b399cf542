using System.Collections.Concurrent;
using Prometheus;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Per listener: downstream connections and requests (Envoy's <c>downstream_cx_total</c>, <c>downstream_cx_active</c>,
/// <c>downstream_rq_total</c>, <c>downstream_rq_2xx</c> …, <c>downstream_rq_time</c>). Label children are resolved
/// once per listener, so recording allocates nothing.
/// </summary>
public sealed class DownstreamStats
{
    private readonly Counter _connections;
    private readonly Gauge _activeConnections;
    private readonly Counter _requests;
    private readonly Gauge _activeRequests;
    private readonly Histogram _time;
    private readonly ConcurrentDictionary<string, ListenerSeries> _series = new(StringComparer.Ordinal);

    public DownstreamStats(CollectorRegistry registry)
    {
        var factory = StatsFactory.For(registry);
        _connections = factory.CreateCounter("proxymesh_downstream_cx_total", "Downstream connections accepted.", "listener");
        _activeConnections = factory.CreateGauge("proxymesh_downstream_cx_active", "Downstream connections open.", "listener");
        _requests = factory.CreateCounter("proxymesh_downstream_rq_total", "Downstream requests completed, by response code class.", "listener", "response_code_class");
        _activeRequests = factory.CreateGauge("proxymesh_downstream_rq_active", "Downstream requests in flight.", "listener");
        _time = factory.CreateHistogram(
            "proxymesh_downstream_rq_time_seconds",
            "Time from the start of a downstream request to the end of its response.",
            new HistogramConfiguration { LabelNames = ["listener"], Buckets = LatencyBuckets.Seconds });
    }

    public ListenerSeries For(string listener) => _series.GetOrAdd(listener, static (name, stats) => new ListenerSeries(stats, name), this);

    /// <summary>The series of one listener.</summary>
    public sealed class ListenerSeries
    {
        private readonly Counter.Child[] _byClass;

        internal ListenerSeries(DownstreamStats stats, string listener)
        {
            Connections = stats._connections.WithLabels(listener);
            ActiveConnections = stats._activeConnections.WithLabels(listener);
            ActiveRequests = stats._activeRequests.WithLabels(listener);
            Time = stats._time.WithLabels(listener);
            _byClass = new Counter.Child[6];
            for (var i = 1; i <= 5; i++)
            {
                _byClass[i] = stats._requests.WithLabels(listener, $"{i}xx");
            }
        }

        public Counter.Child Connections { get; }

        public Gauge.Child ActiveConnections { get; }

        public Gauge.Child ActiveRequests { get; }

        public Histogram.Child Time { get; }

        public Counter.Child Responses(int statusCode) => _byClass[StatusClass.Index(statusCode)];
    }
}
