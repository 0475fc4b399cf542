using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// Just before load balancing (so once per attempt when the router retries): notes that the cluster has seen traffic,
/// and counts the pick as made in panic when the cluster is in panic mode.
/// </summary>
internal sealed class HealthyPanicMiddleware(RequestDelegate next, ClusterTraffic traffic, HealthCheckStats stats)
{
    public Task InvokeAsync(HttpContext context)
    {
        var cluster = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        traffic.Seen(cluster);
        if (traffic.InPanic(cluster))
        {
            stats.For(cluster).Panics.Inc();
        }

        return next(context);
    }
}
