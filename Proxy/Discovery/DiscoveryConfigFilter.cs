using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>Gives each discovery cluster (metadata <c>ProxyMesh.Discovery</c>) the destinations discovery reported.</summary>
internal sealed class DiscoveryConfigFilter(DiscoveredDestinations destinations) : IProxyConfigFilter
{
    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel) =>
        ValueTask.FromResult(DiscoveryTarget.IsDiscoveryCluster(cluster.Metadata)
            ? cluster with { Destinations = destinations.For(cluster.ClusterId) }
            : cluster);

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel) =>
        ValueTask.FromResult(route);
}
