using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Resilience.Timeouts;

/// <summary>
/// Applies each cluster's <c>Timeouts:StreamIdle</c> as YARP's activity timeout, which resets every time bytes move in
/// either direction — Envoy's stream idle timeout — unless the cluster's own <c>HttpRequest:ActivityTimeout</c> is set.
/// Runs once per configuration version, not per request.
/// </summary>
internal sealed class StreamIdleConfigFilter(ValidatedConfiguration configuration) : IProxyConfigFilter
{
    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel)
    {
        if (cluster.HttpRequest?.ActivityTimeout is not null)
        {
            return ValueTask.FromResult(cluster);
        }

        var idle = ClusterPolicies.Bind<TimeoutPolicy>(configuration.View, cluster.ClusterId, TimeoutPolicy.Name).StreamIdle;
        var request = (cluster.HttpRequest ?? new ForwarderRequestConfig()) with { ActivityTimeout = idle };
        return ValueTask.FromResult(cluster with { HttpRequest = request });
    }

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel) =>
        ValueTask.FromResult(route);
}
