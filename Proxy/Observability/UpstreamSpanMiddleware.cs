using System.Diagnostics;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability.Tracing;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// First step of the proxy pipeline: tags the request's span with the mesh attributes, and once the router is done,
/// with the outcome of its last upstream attempt (<c>proxymesh.response_flags</c>) and the number of attempts.
/// Upstream stats are recorded per attempt by the router itself.
/// </summary>
internal sealed class UpstreamSpanMiddleware(RequestDelegate next, IOptions<ProxyMeshOptions> mesh)
{
    private readonly string _zone = mesh.Value.Zone;

    public async Task InvokeAsync(HttpContext context)
    {
        if (Activity.Current is not { IsAllDataRequested: true } span)
        {
            await next(context);
            return;
        }

        var proxy = context.GetReverseProxyFeature();
        span.SetTag(MeshSpanEnricher.RequestIdTag, context.TraceIdentifier);
        span.SetTag(MeshSpanEnricher.ClusterTag, context.Features.Get<UpstreamStats.ClusterSeries>()?.ClusterId); // as the cluster context resolved it
        span.SetTag(MeshSpanEnricher.RouteTag, proxy.Route.Config.RouteId);
        span.SetTag(MeshSpanEnricher.ZoneTag, _zone);
        await next(context);
        if (context.Features.Get<IUpstreamAttemptFeature>() is { Outcome: not AttemptOutcome.None } attempt)
        {
            span.SetTag(MeshSpanEnricher.ResponseFlagsTag, AttemptOutcomes.Flag(attempt.Outcome));
            span.SetTag(MeshSpanEnricher.AttemptsTag, attempt.Attempts);
        }
    }
}
