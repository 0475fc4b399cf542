using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Resilience.RateLimiting;
using ProxyMesh.Proxy.Resilience.Retries;
using ProxyMesh.Proxy.Resilience.Timeouts;
using Prometheus;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Clusters;

/// <summary>
/// Everything ProxyMesh serves one cluster with, resolved once per cluster and configuration version (a new YARP
/// configuration, a reload of the <c>ProxyMesh</c> policies) by <see cref="ClusterContexts"/>: its policies, circuit
/// breakers, load-balancing picker, outlier detector, health view, rate limiter and stats handles. Per request
/// everything here is a field read; counters that must outlive a version (breakers, ejections, token buckets) are the
/// cluster's and are only referenced. The HTTP proxy pipeline carries it as a request feature (<see cref="Of"/>); any
/// other listener gets it by cluster id.
/// </summary>
/// <example>
/// A TCP listener forwarding to YARP cluster <c>db</c>:
/// <code>
/// if (!contexts.TryGet("db", out var cluster)) { /* no such cluster: close */ }
/// using var slot = cluster.CircuitBreakers.TryTakeConnection();   // null: at max_connections, close
/// var tried = new TriedHosts();
/// while (cluster.PickHost(tried) is { } host &amp;&amp; !tried.Contains(host))
/// {
///     tried.Add(host);
///     try { socket = await ConnectAsync(host, cancellationToken); }
///     catch (SocketException) { cluster.ReportConnection(host, ConnectionOutcome.ConnectFailure); continue; }
///     cluster.ReportConnection(host, ConnectionOutcome.Success);
///     // ... proxy bytes; if the upstream resets the connection: cluster.ReportConnection(host, ConnectionOutcome.Reset).
///     break;
/// }
/// </code>
/// </example>
public sealed class ClusterContext
{
    /// <summary>For YARP's own policies, which take an HTTP context but never read it, when there is no request.</summary>
    private static readonly HttpContext NoRequest = new DefaultHttpContext();

    private readonly OutlierDetector _outlierDetector;
    private readonly IHostPicker? _picker;
    private readonly bool _excludesByFeature;
    private readonly PerRouteCache<LocalRateLimits.Bucket?> _rateLimits;

    /// <summary>Null when outlier detection is off for the cluster.</summary>
    private readonly OutlierDetector.ClusterMonitor? _outlierMonitor;
    private readonly Counter.Child _panics;

    internal ClusterContext(ClusterState cluster, ClusterModel model, Version version, ClusterServices services)
    {
        var policies = services.Policies;
        var id = model.Config.ClusterId;
        ClusterId = id;
        Cluster = cluster;
        Model = model;
        ResolvedFor = version;
        Retry = policies.For<RetryPolicy>(id, RetryPolicy.Name);
        Timeouts = policies.For<TimeoutPolicy>(id, TimeoutPolicy.Name);
        OutlierDetection = policies.For<OutlierDetectionOptions>(id, OutlierDetectionOptions.PolicyName);
        RateLimit = policies.For<RateLimitOptions>(id, RateLimitOptions.PolicyName);
        HealthCheck = policies.For<HealthCheckPolicy>(id, HealthCheckPolicy.Name);
        CircuitBreakers = services.Breakers.For(id, policies.For<CircuitBreakerOptions>(id, CircuitBreakerOptions.PolicyName));
        LoadBalancer = services.LoadBalancer(model.Config.LoadBalancingPolicy);
        _picker = LoadBalancer as IHostPicker;

        // Session affinity runs before load balancing and would send a retry back to the affinitized host it finds in
        // the list: such clusters keep the narrowed list.
        _excludesByFeature = _picker is not null && model.Config.SessionAffinity?.Enabled != true;
        _outlierDetector = services.OutlierDetector;
        Health = services.Traffic.For(id);

        // Every series of the cluster is resolved here, so the stats of a configured cluster are exported at 0 from the
        // first scrape (ClusterContexts builds a context for each before it), as Envoy exports its cluster stats.
        _outlierMonitor = OutlierDetection.Enabled ? services.OutlierDetector.MonitorFor(id) : null;
        _panics = services.HealthStats.Panics(id);
        UpstreamStats = services.UpstreamStats.For(id);
        RetryStats = services.RetryStats.For(id);
        ConnectionStats = services.ConnectionStats.For(id);
        var rateLimits = services.RateLimits;
        var rateLimit = RateLimit;
        _rateLimits = new PerRouteCache<LocalRateLimits.Bucket?>(route => rateLimits.For(route, id, rateLimit));
    }

    public string ClusterId { get; }

    /// <summary>YARP's live state of the cluster: its destinations and their health.</summary>
    public ClusterState Cluster { get; }

    /// <summary>The cluster configuration this context was resolved for.</summary>
    public ClusterModel Model { get; }

    public RetryPolicy Retry { get; }

    public TimeoutPolicy Timeouts { get; }

    public OutlierDetectionOptions OutlierDetection { get; }

    public RateLimitOptions RateLimit { get; }

    public HealthCheckPolicy HealthCheck { get; }

    /// <summary>max_requests, max_connections and max_retries of the cluster, under this version's limits.</summary>
    public ClusterCircuitBreaker CircuitBreakers { get; }

    /// <summary>The cluster's <c>LoadBalancingPolicy</c> (YARP's default when none is named).</summary>
    public ILoadBalancingPolicy LoadBalancer { get; }

    /// <summary>
    /// Whether HTTP retries skip tried hosts through the policy's cached state (ProxyMesh's policies, no session
    /// affinity) rather than a narrowed list.
    /// </summary>
    public bool HonoursExclusions => _excludesByFeature;

    /// <summary>Traffic seen and panic mode.</summary>
    public ClusterHealthView Health { get; }

    /// <summary>Upstream request series (<c>proxymesh_upstream_rq_*</c>).</summary>
    public UpstreamStats.ClusterSeries UpstreamStats { get; }

    /// <summary>Retry series (<c>proxymesh_retry_*</c>, <c>upstream_rq_retry*</c>).</summary>
    public RetryStats.Series RetryStats { get; }

    /// <summary>Upstream connection series (<c>proxymesh_upstream_cx_*</c>), for listeners that open their own connections.</summary>
    public UpstreamConnectionStats.ClusterSeries ConnectionStats { get; }

    internal Version ResolvedFor { get; }

    /// <summary>The context the proxy pipeline resolved for this request.</summary>
    /// <exception cref="InvalidOperationException">The pipeline does not start with <c>UseClusterContext</c>.</exception>
    public static ClusterContext Of(HttpContext context) =>
        context.Features.Get<ClusterContext>()
        ?? throw new InvalidOperationException("No cluster context: the proxy pipeline must start with UseClusterContext.");

    /// <summary>
    /// Picks an available host with the cluster's policy, outside any HTTP request: skipping <paramref name="tried"/>
    /// hosts while others are left, hashing <paramref name="hashKey"/> for ring hash (a random host without one).
    /// Notes the pick for health (<see cref="BeforePick"/>). Null when no host is available (Envoy's
    /// <c>no healthy upstream</c>).
    /// </summary>
    public DestinationState? PickHost(TriedHosts? tried = null, string? hashKey = null)
    {
        var available = Cluster.DestinationsState.AvailableDestinations;
        BeforePick();
        if (_picker is not null)
        {
            return _picker.Pick(Cluster, available, null, hashKey, tried);
        }

        var candidates = tried is { Count: > 0 } ? TriedHosts.Untried(available, tried) : available;
        return candidates.Count switch
        {
            0 => null,
            1 => candidates[0],
            _ => LoadBalancer.PickDestination(NoRequest, Cluster, candidates),
        };
    }

    /// <summary>
    /// Before each pick (each attempt): notes that the cluster has traffic, and counts a pick made in panic mode
    /// (<c>proxymesh_lb_healthy_panic_total</c>).
    /// </summary>
    public void BeforePick()
    {
        Health.Seen();
        if (Health.InPanic)
        {
            _panics.Inc();
        }
    }

    /// <summary>
    /// The hosts the next attempt of an HTTP request picks from, once <paramref name="tried"/> hosts have failed:
    /// when <see cref="HonoursExclusions"/> the same list (the request carries the tried hosts as a
    /// <see cref="TriedHosts"/> feature, and nothing is rebuilt); otherwise (YARP's own policies, session affinity) a
    /// narrowed list.
    /// </summary>
    /// <param name="tried">The request's tried hosts; hosts added later are skipped too.</param>
    public IReadOnlyList<DestinationState> ExcludeTried(HttpContext context, IReadOnlyList<DestinationState> available, List<DestinationState> tried)
    {
        if (!_excludesByFeature)
        {
            return TriedHosts.Untried(available, new TriedHosts(tried));
        }

        if (TriedHosts.Of(context) is null)
        {
            context.Features.Set(new TriedHosts(tried));
        }

        return available;
    }

    /// <summary>Tells outlier detection how an attempt on <paramref name="host"/> went.</summary>
    public void RecordOutcome(DestinationState host, UpstreamOutcome outcome)
    {
        if (outcome == UpstreamOutcome.Ignored || _outlierMonitor is null)
        {
            return;
        }

        _outlierDetector.Record(_outlierMonitor, OutlierDetection, Cluster, host, outcome);
    }

    /// <summary>
    /// How a connection to <paramref name="host"/> went, for listeners that open their own (a TCP proxy): a failed
    /// connect counts <c>upstream_cx_connect_fail</c>; failures and resets count against the host for outlier
    /// detection as gateway failures (Envoy's local-origin errors), a success clears its run of failures.
    /// </summary>
    public void ReportConnection(DestinationState host, ConnectionOutcome outcome)
    {
        if (outcome is ConnectionOutcome.ConnectFailure or ConnectionOutcome.ConnectTimeout)
        {
            ConnectionStats.ConnectFailures.Inc();
        }

        RecordOutcome(host, outcome == ConnectionOutcome.Success ? UpstreamOutcome.Success : UpstreamOutcome.GatewayFailure);
    }

    /// <summary>The token bucket requests of <paramref name="route"/> draw from, or null when no rate limit applies.</summary>
    internal LocalRateLimits.Bucket? RateLimitFor(RouteConfig route) => _rateLimits.For(route);

    /// <summary>The configuration version a context was resolved under.</summary>
    internal readonly record struct Version(int Generation, int Policies);
}

/// <summary>How a connection a listener opened itself to an upstream host went.</summary>
public enum ConnectionOutcome
{
    /// <summary>Connected (reported once connected; it ends the host's run of failures).</summary>
    Success,

    /// <summary>The connect was refused or failed.</summary>
    ConnectFailure,

    /// <summary>The connect did not complete within the cluster's connect timeout.</summary>
    ConnectTimeout,

    /// <summary>The upstream reset the connection after it was established.</summary>
    Reset,
}
