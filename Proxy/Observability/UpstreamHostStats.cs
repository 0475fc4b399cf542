using System.Collections.Concurrent;
using Prometheus;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Opt-in per-destination stats (Envoy's per-host <c>rq_total</c>, <c>rq_success</c>, <c>rq_error</c>, <c>rq_time</c>),
/// labelled by cluster and destination id.
/// </summary>
public sealed class UpstreamHostStats
{
    private readonly Counter _requests;
    private readonly Histogram _time;
    private readonly ConcurrentDictionary<(string Cluster, string Host), Series> _series = new();

    public UpstreamHostStats(CollectorRegistry registry)
    {
        var factory = StatsFactory.For(registry);
        _requests = factory.CreateCounter("proxymesh_upstream_host_rq_total", "Upstream requests per destination, by response code class (opt-in).", "cluster", "host", "response_code_class");
        _time = factory.CreateHistogram(
            "proxymesh_upstream_host_rq_time_seconds",
            "Forwarding time per destination (opt-in).",
            new HistogramConfiguration { LabelNames = ["cluster", "host"], Buckets = LatencyBuckets.Seconds });
    }

    public void Record(string cluster, string host, int statusCode, double seconds)
    {
        var series = _series.GetOrAdd((cluster, host), static (key, stats) => new Series(stats, key.Cluster, key.Host), this);
        series.ByClass[StatusClass.Index(statusCode)].Inc();
        series.Time.Observe(seconds);
    }

    private sealed class Series
    {
        public Series(UpstreamHostStats stats, string cluster, string host)
        {
            Time = stats._time.WithLabels(cluster, host);
            for (var i = 1; i <= 5; i++)
            {
                ByClass[i] = stats._requests.WithLabels(cluster, host, $"{i}xx");
            }
        }

        public Counter.Child[] ByClass { get; } = new Counter.Child[6];

        public Histogram.Child Time { get; }
    }
}
