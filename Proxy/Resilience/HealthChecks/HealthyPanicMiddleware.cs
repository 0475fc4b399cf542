using ProxyMesh.Proxy.Clusters;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// Just before load balancing (so once per attempt when the router retries): notes that the cluster has seen traffic,
/// and counts the pick as made in panic when the cluster is in panic mode.
/// </summary>
internal sealed class HealthyPanicMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        ClusterContext.Of(context).BeforePick();
        return next(context);
    }
}
