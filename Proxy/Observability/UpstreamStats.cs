using System.Collections.Concurrent;
using Prometheus;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Per cluster and route: upstream requests by response code (Envoy's <c>upstream_rq_total</c>,
/// <c>upstream_rq_2xx</c>, <c>upstream_rq_503</c> …), upstream request time, timeouts, requests that found no
/// available host (<c>upstream_cx_none_healthy</c>), and active requests.
/// Label children are resolved once per route and code, so recording allocates nothing.
/// </summary>
public sealed class UpstreamStats
{
    private readonly Counter _requests;
    private readonly Histogram _time;
    private readonly Counter _timeouts;
    private readonly Counter _noneHealthy;
    private readonly ConcurrentDictionary<(string Cluster, string Route), RouteSeries> _series = new();

    public UpstreamStats(CollectorRegistry registry, IProxyStateLookup proxyState)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        _requests = factory.CreateCounter(
            "proxymesh_upstream_rq_total",
            "Upstream requests completed, by response code (the proxy's own 5xx when no upstream answered).",
            "cluster", "route", "response_code", "response_code_class");
        _time = factory.CreateHistogram(
            "proxymesh_upstream_rq_time_seconds",
            "Time from the start of forwarding to the end of the upstream response.",
            new HistogramConfiguration { LabelNames = ["cluster", "route"], Buckets = LatencyBuckets.Seconds });
        _timeouts = factory.CreateCounter("proxymesh_upstream_rq_timeout_total", "Upstream requests that timed out.", "cluster", "route");
        _noneHealthy = factory.CreateCounter(
            "proxymesh_upstream_cx_none_healthy_total", "Requests answered 503 because the cluster had no available (healthy, non-ejected) host.", "cluster");
        var active = factory.CreateGauge("proxymesh_upstream_rq_active", "Upstream requests in flight.", "cluster");
        registry.AddBeforeCollectCallback(() =>
        {
            foreach (var cluster in proxyState.GetClusters())
            {
                var inFlight = 0;
                foreach (var destination in cluster.Destinations.Values)
                {
                    inFlight += destination.ConcurrentRequestCount;
                }

                active.WithLabels(cluster.ClusterId).Set(inFlight);
            }
        });
    }

    public void Record(string cluster, string route, int statusCode, double seconds, ForwarderError error)
    {
        var series = _series.GetOrAdd((cluster, route), static (key, stats) => new RouteSeries(stats, key.Cluster, key.Route), this);
        series.Requests(statusCode).Inc();
        series.Time.Observe(seconds);
        if (error == ForwarderError.RequestTimedOut)
        {
            series.Timeouts.Inc();
        }
        else if (error == ForwarderError.NoAvailableDestinations)
        {
            series.NoneHealthy.Inc();
        }
    }

    private sealed class RouteSeries(UpstreamStats stats, string cluster, string route)
    {
        private readonly ConcurrentDictionary<int, Counter.Child> _byCode = new();

        public Histogram.Child Time { get; } = stats._time.WithLabels(cluster, route);

        public Counter.Child Timeouts { get; } = stats._timeouts.WithLabels(cluster, route);

        public Counter.Child NoneHealthy { get; } = stats._noneHealthy.WithLabels(cluster);

        public Counter.Child Requests(int statusCode) =>
            _byCode.GetOrAdd(statusCode, static (code, labels) =>
                labels.Stats._requests.WithLabels(labels.Cluster, labels.Route, StatusClass.Code(code), StatusClass.Of(code)), (Stats: stats, Cluster: cluster, Route: route));
    }
}
