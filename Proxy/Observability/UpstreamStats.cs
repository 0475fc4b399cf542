using System.Collections.Concurrent;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
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

    public void Record(string cluster, string route, int statusCode, double seconds, ForwarderError error) =>
        Route(cluster, route).Record(statusCode, seconds, error);

    /// <summary>
    /// A cluster's series for one configuration version: a cluster context resolves it once and the proxy pipeline
    /// carries it as a request feature, so recording needs no lookup by name.
    /// </summary>
    public ClusterSeries For(string cluster) => new(this, cluster);

    private RouteSeries Route(string cluster, string route) =>
        _series.GetOrAdd((cluster, route), static (key, stats) => new RouteSeries(stats, key.Cluster, key.Route), this);

    /// <summary>One cluster's upstream series; each route's are resolved on the route's first request.</summary>
    public sealed class ClusterSeries
    {
        private readonly PerRouteCache<RouteSeries> _routes;

        internal ClusterSeries(UpstreamStats stats, string cluster)
        {
            ClusterId = cluster;
            _routes = new PerRouteCache<RouteSeries>(route => stats.Route(cluster, route.RouteId));
        }

        public string ClusterId { get; }

        public RouteSeries Route(RouteConfig route) => _routes.For(route);
    }

    /// <summary>The series of one cluster and route; recording allocates nothing.</summary>
    public sealed class RouteSeries
    {
        private readonly UpstreamStats _stats;
        private readonly string _cluster;
        private readonly string _route;
        private readonly Counter.Child?[] _byCode = new Counter.Child?[StatusClass.MaxCode + 1];

        internal RouteSeries(UpstreamStats stats, string cluster, string route)
        {
            _stats = stats;
            _cluster = cluster;
            _route = route;
            Time = stats._time.WithLabels(cluster, route);
            Timeouts = stats._timeouts.WithLabels(cluster, route);
            NoneHealthy = stats._noneHealthy.WithLabels(cluster);
        }

        public Histogram.Child Time { get; }

        public Counter.Child Timeouts { get; }

        public Counter.Child NoneHealthy { get; }

        public void Record(int statusCode, double seconds, ForwarderError error)
        {
            Requests(statusCode).Inc();
            Time.Observe(seconds);
            if (error == ForwarderError.RequestTimedOut)
            {
                Timeouts.Inc();
            }
            else if (error == ForwarderError.NoAvailableDestinations)
            {
                NoneHealthy.Inc();
            }
        }

        /// <summary>The counter of a response code, kept from its first use for the codes HTTP defines.</summary>
        public Counter.Child Requests(int statusCode) =>
            statusCode is >= 0 and <= StatusClass.MaxCode
                ? _byCode[statusCode] ??= Resolve(statusCode)
                : Resolve(statusCode);

        private Counter.Child Resolve(int statusCode) =>
            _stats._requests.WithLabels(_cluster, _route, StatusClass.Code(statusCode), StatusClass.Of(statusCode));
    }
}
