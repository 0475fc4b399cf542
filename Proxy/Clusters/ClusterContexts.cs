using ProxyMesh.Proxy.Resilience.Retries;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Resilience.HealthChecks;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Resilience.RateLimiting;
using Prometheus;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Clusters;

/// <summary>
/// The registry of <see cref="ClusterContext"/>s: the one place a cluster is resolved to what serves it. A context is
/// kept beside YARP's <see cref="ClusterState"/> and handed out while it is current — same cluster configuration
/// (<see cref="ClusterState.Model"/>), no YARP configuration applied since (<see cref="ClusterConfigGeneration"/>), same
/// <see cref="ClusterPolicies.Version"/> — and rebuilt on first use after any of them changes. Checking costs a
/// table lookup by object identity and three comparisons; nothing is looked up by name.
/// </summary>
public sealed class ClusterContexts
{
    private readonly ConditionalWeakTable<ClusterState, Slot> _slots = [];
    private readonly ClusterConfigGeneration _generation;
    private readonly ClusterPolicies _policies;
    private readonly IServiceProvider _services;
    private ClusterServices? _resolved;
    private IProxyStateLookup? _proxyState;
    private long _builds;

    /// <param name="services">Resolves YARP's proxy state and load-balancing policies on first use: YARP's own services
    /// depend on what the contexts hold.</param>
    /// <param name="registry">Before each scrape every cluster YARP serves gets its current context, which resolves the
    /// cluster's series: they are exported (at 0) from the start, not from the cluster's first request.</param>
    public ClusterContexts(ClusterConfigGeneration generation, ClusterPolicies policies, IServiceProvider services, CollectorRegistry registry)
    {
        _generation = generation;
        _policies = policies;
        _services = services;
        registry.AddBeforeCollectCallback(() =>
        {
            foreach (var cluster in ProxyState.GetClusters())
            {
                For(cluster);
            }
        });
    }

    /// <summary>Contexts built so far: once per cluster and configuration version.</summary>
    public long Builds => Interlocked.Read(ref _builds);

    /// <summary>The current context of a cluster YARP serves.</summary>
    public ClusterContext For(ClusterState cluster)
    {
        var slot = _slots.GetValue(cluster, static _ => new Slot());
        var current = slot.Current;
        var version = new ClusterContext.Version(_generation.Value, _policies.Version);
        if (current is not null && current.ResolvedFor == version && ReferenceEquals(current.Model, cluster.Model))
        {
            return current;
        }

        lock (slot)
        {
            current = slot.Current;
            version = new ClusterContext.Version(_generation.Value, _policies.Version);
            var model = cluster.Model;
            if (current is null || current.ResolvedFor != version || !ReferenceEquals(current.Model, model))
            {
                Interlocked.Increment(ref _builds);
                current = new ClusterContext(cluster, model, version, Services);
                slot.Current = current;
            }

            return current;
        }
    }

    /// <summary>The current context of the cluster named <paramref name="clusterId"/> (for listeners outside the HTTP pipeline).</summary>
    /// <returns>false when YARP has no such cluster.</returns>
    public bool TryGet(string clusterId, [NotNullWhen(true)] out ClusterContext? context)
    {
        if (ProxyState.TryGetCluster(clusterId, out var cluster))
        {
            context = For(cluster);
            return true;
        }

        context = null;
        return false;
    }

    private IProxyStateLookup ProxyState => _proxyState ??= _services.GetRequiredService<IProxyStateLookup>();

    private ClusterServices Services => _resolved ??= new ClusterServices(_services, _policies);

    private sealed class Slot
    {
        public volatile ClusterContext? Current;
    }
}

/// <summary>What contexts are built from, resolved once.</summary>
internal sealed class ClusterServices(IServiceProvider services, ClusterPolicies policies)
{
    /// <summary>YARP's policy when a cluster names none.</summary>
    private static readonly string DefaultLoadBalancingPolicy = LoadBalancingPolicies.PowerOfTwoChoices;

    private readonly Dictionary<string, ILoadBalancingPolicy> _loadBalancers =
        services.GetServices<ILoadBalancingPolicy>().ToDictionary(policy => policy.Name, StringComparer.OrdinalIgnoreCase);

    public ClusterPolicies Policies { get; } = policies;

    public ClusterCircuitBreakers Breakers { get; } = services.GetRequiredService<ClusterCircuitBreakers>();

    public OutlierDetector OutlierDetector { get; } = services.GetRequiredService<OutlierDetector>();

    public ClusterTraffic Traffic { get; } = services.GetRequiredService<ClusterTraffic>();

    public HealthCheckStats HealthStats { get; } = services.GetRequiredService<HealthCheckStats>();

    public LocalRateLimits RateLimits { get; } = services.GetRequiredService<LocalRateLimits>();

    public UpstreamStats UpstreamStats { get; } = services.GetRequiredService<UpstreamStats>();

    public RetryStats RetryStats { get; } = services.GetRequiredService<RetryStats>();

    public UpstreamConnectionStats ConnectionStats { get; } = services.GetRequiredService<UpstreamConnectionStats>();

    /// <summary>The policy YARP uses for a cluster (YARP validates the name before the cluster is served).</summary>
    public ILoadBalancingPolicy LoadBalancer(string? name) =>
        _loadBalancers.TryGetValue(string.IsNullOrEmpty(name) ? DefaultLoadBalancingPolicy : name, out var policy)
            ? policy
            : throw new InvalidOperationException($"No load-balancing policy named '{name}'.");
}
