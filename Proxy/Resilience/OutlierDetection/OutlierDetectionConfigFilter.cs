using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>
/// YARP's load balancers honour a destination's passive health only when the cluster has passive health checks
/// enabled; this turns them on, with the no-op <see cref="OutlierEjectionHealthPolicy"/>, for every cluster that does
/// not configure YARP's own, so that outlier ejections take hosts out of rotation.
/// </summary>
internal sealed class OutlierDetectionConfigFilter : IProxyConfigFilter
{
    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel)
    {
        if (cluster.HealthCheck?.Passive?.Enabled == true)
        {
            return ValueTask.FromResult(cluster);
        }

        var passive = new PassiveHealthCheckConfig { Enabled = true, Policy = OutlierEjectionHealthPolicy.PolicyName };
        return ValueTask.FromResult(cluster with { HealthCheck = (cluster.HealthCheck ?? new HealthCheckConfig()) with { Passive = passive } });
    }

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel) =>
        ValueTask.FromResult(route);
}

/// <summary>The passive policy of clusters without YARP passive checks: outcomes are recorded by the router from each attempt's outcome.</summary>
internal sealed class OutlierEjectionHealthPolicy : IPassiveHealthCheckPolicy
{
    public const string PolicyName = "ProxyMesh.OutlierDetection";

    public string Name => PolicyName;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
    }
}
