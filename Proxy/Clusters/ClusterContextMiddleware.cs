using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Clusters;

/// <summary>
/// First step of the proxy pipeline: resolves the request's cluster once and carries its context (and its upstream
/// stats handle, for Observability, which imports no capability) as request features for every later step.
/// </summary>
internal sealed class ClusterContextMiddleware(RequestDelegate next, ClusterContexts contexts)
{
    public Task InvokeAsync(HttpContext context)
    {
        // YARP answers 503 itself, before this pipeline, for a route whose cluster does not exist.
        var cluster = contexts.For(context.GetReverseProxyFeature().Route.Cluster!);
        context.Features.Set(cluster);
        context.Features.Set<UpstreamStats.ClusterSeries>(cluster.UpstreamStats);
        return next(context);
    }
}
