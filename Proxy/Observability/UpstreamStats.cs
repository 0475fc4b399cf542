using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Per cluster and route, per upstream attempt as Envoy counts them (a request retried once is two attempts):
/// <c>upstream_rq_total</c> / <c>upstream_rq_&lt;code&gt;</c> by the upstream's response code, or the code Envoy charges
/// when none arrived (504 for a timeout, 502 for a connect failure or reset, 499 for a client that went away);
/// <c>upstream_rq_time</c>;
/// <c>upstream_rq_timeout</c> (route timeout or gRPC deadline, before or after headers) and
/// <c>upstream_rq_per_try_timeout</c>. Local replies are no upstream requests: a cluster without an available host counts
/// <c>upstream_cx_none_healthy</c>, a circuit-breaker refusal its overflow counter, and neither a response code.
/// Label children are resolved once per route and code, so recording allocates nothing.
/// </summary>
public sealed class UpstreamStats
{
    private readonly Counter _requests;
    private readonly Histogram _time;
    private readonly Counter _timeouts;
    private readonly Counter _perTryTimeouts;
    private readonly Counter _noneHealthy;
    private readonly UpstreamHostStats _hostStats;
    private readonly bool _perHost;
    private readonly ConcurrentDictionary<(string Cluster, string Route), RouteSeries> _series = new();

    public UpstreamStats(CollectorRegistry registry, IProxyStateLookup proxyState, UpstreamHostStats hostStats, IOptions<StatsOptions> options)
    {
        _hostStats = hostStats;
        _perHost = options.Value.PerHost;
        var factory = StatsFactory.For(registry);
        _requests = factory.CreateCounter(
            "proxymesh_upstream_rq_total",
            "Upstream attempts (a retried request counts each), by the upstream's response code, or 504/503 charged for a timeout or failure without one.",
            "cluster", "route", "response_code", "response_code_class");
        _time = factory.CreateHistogram(
            "proxymesh_upstream_rq_time_seconds",
            "Time of each upstream attempt, from its start to the end of its response.",
            new HistogramConfiguration { LabelNames = ["cluster", "route"], Buckets = LatencyBuckets.Seconds });
        _timeouts = factory.CreateCounter("proxymesh_upstream_rq_timeout_total", "Upstream requests cut by the route timeout or the gRPC deadline.", "cluster", "route");
        _perTryTimeouts = factory.CreateCounter("proxymesh_upstream_rq_per_try_timeout_total", "Upstream attempts cut by the per-try timeout.", "cluster", "route");
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

    /// <summary>
    /// A cluster's series for one configuration version: a cluster context resolves it once and the proxy pipeline
    /// carries it as a request feature, so recording needs no lookup by name.
    /// </summary>
    public ClusterSeries For(string cluster) => new(this, cluster);

    private RouteSeries Route(string cluster, string route) =>
        _series.GetOrAdd((cluster, route), static (key, stats) => new RouteSeries(stats, key.Cluster, key.Route), this);

    /// <summary>Records one ended attempt.</summary>
    /// <param name="host">The destination id the attempt went to, if any (per-host stats, when enabled).</param>
    public void RecordAttempt(RouteSeries series, AttemptOutcome outcome, int upstreamStatusCode, double seconds, string? host)
    {
        switch (outcome)
        {
            case AttemptOutcome.None or AttemptOutcome.Overflow or AttemptOutcome.ProxyError:
                return;
            case AttemptOutcome.NoHealthyUpstream:
                series.NoneHealthy.Inc();
                return;
            case AttemptOutcome.Timeout or AttemptOutcome.TimeoutAfterHeaders:
                series.Timeouts.Inc();
                break;
            case AttemptOutcome.PerTryTimeout:
                series.PerTryTimeouts.Inc();
                break;
        }

        var code = ChargedCode(outcome, upstreamStatusCode);
        series.Requests(code).Inc();
        series.Time.Observe(seconds);
        if (_perHost && host is not null)
        {
            _hostStats.Record(series.Cluster, host, code, seconds);
        }
    }

    /// <summary>
    /// The upstream's code when it answered before failing; otherwise the code of the proxy's answer: 504 for timeouts,
    /// 502 for connect failures and resets (Envoy charges 503 and answers it; this proxy answers 502), and 499 (Envoy's
    /// code for a cancelled call) when the client went away first.
    /// </summary>
    private static int ChargedCode(AttemptOutcome outcome, int upstreamStatusCode) =>
        outcome switch
        {
            AttemptOutcome.PerTryTimeout or AttemptOutcome.Timeout => StatusCodes.Status504GatewayTimeout,
            _ when upstreamStatusCode > 0 => upstreamStatusCode,
            AttemptOutcome.StreamIdleTimeout => StatusCodes.Status504GatewayTimeout,
            AttemptOutcome.ClientCancelled => StatusCodes.Status499ClientClosedRequest,
            _ => StatusCodes.Status502BadGateway,
        };

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
        private readonly string _route;
        private readonly Counter.Child?[] _byCode = new Counter.Child?[StatusClass.MaxCode + 1];

        internal RouteSeries(UpstreamStats stats, string cluster, string route)
        {
            _stats = stats;
            _route = route;
            Cluster = cluster;
            Time = stats._time.WithLabels(cluster, route);
            Timeouts = stats._timeouts.WithLabels(cluster, route);
            PerTryTimeouts = stats._perTryTimeouts.WithLabels(cluster, route);
            NoneHealthy = stats._noneHealthy.WithLabels(cluster);
        }

        public string Cluster { get; }

        internal Histogram.Child Time { get; }

        internal Counter.Child Timeouts { get; }

        internal Counter.Child PerTryTimeouts { get; }

        internal Counter.Child NoneHealthy { get; }

        /// <summary>The counter of a response code, kept from its first use for the codes HTTP defines.</summary>
        internal Counter.Child Requests(int statusCode) =>
            statusCode is >= 0 and <= StatusClass.MaxCode
                ? _byCode[statusCode] ??= Resolve(statusCode)
                : Resolve(statusCode);

        private Counter.Child Resolve(int statusCode) =>
            _stats._requests.WithLabels(Cluster, _route, StatusClass.Code(statusCode), StatusClass.Of(statusCode));
    }
}
