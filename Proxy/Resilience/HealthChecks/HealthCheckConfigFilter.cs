using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// Hands each cluster to YARP with the panic-threshold destinations policy (unless the cluster names another one) and,
/// when its <c>HealthCheck</c> policy turns active checks on, the metadata <c>ProxyMesh.HealthCheck</c> (the check type),
/// by which load balancing and discovery know that <see cref="DestinationHealthState.Active"/> is maintained.
/// </summary>
internal sealed class HealthCheckConfigFilter(ValidatedConfiguration configuration) : IProxyConfigFilter
{
    public const string MetadataKey = "ProxyMesh.HealthCheck";

    /// <summary>Whether the cluster's active health is maintained, by ProxyMesh's checker or YARP's own.</summary>
    public static bool HasActiveChecks(ClusterConfig cluster) =>
        cluster.HealthCheck?.Active?.Enabled == true || cluster.Metadata?.ContainsKey(MetadataKey) == true;

    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel)
    {
        // Bound afresh rather than from ClusterPolicies' cache, which may not have seen this reload yet.
        var policy = ClusterPolicies.Bind<HealthCheckPolicy>(configuration.View, cluster.ClusterId, HealthCheckPolicy.Name);
        var healthCheck = cluster.HealthCheck ?? new HealthCheckConfig();
        if (string.IsNullOrEmpty(healthCheck.AvailableDestinationsPolicy))
        {
            healthCheck = healthCheck with { AvailableDestinationsPolicy = PanicThresholdDestinationsPolicy.PolicyName };
        }

        var metadata = cluster.Metadata;
        if (policy.Enabled)
        {
            metadata = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase)
            {
                [MetadataKey] = policy.Kind.ToString(),
            };
        }

        return ValueTask.FromResult(cluster with { HealthCheck = healthCheck, Metadata = metadata });
    }

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel) =>
        ValueTask.FromResult(route);
}
