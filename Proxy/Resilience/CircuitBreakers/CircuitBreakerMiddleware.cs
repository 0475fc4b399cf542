using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.Observability;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.CircuitBreakers;

/// <summary>
/// Early in the proxy pipeline: admits a request under its cluster's max_requests, or answers at once with 503 and
/// <c>x-envoy-overloaded: true</c> (gRPC: UNAVAILABLE). A request whose upstream connection was refused by
/// max_connections / max_pending_requests gets the same answer instead of YARP's 502, and a cluster with no available
/// host answers Envoy's <c>no healthy upstream</c>.
/// </summary>
internal sealed class CircuitBreakerMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var breaker = ClusterContext.Of(context).CircuitBreakers;
        if (!breaker.TryStartRequest())
        {
            await LocalReply.Overloaded.WriteAsync(context);
            return;
        }

        try
        {
            await next(context);
        }
        finally
        {
            breaker.EndRequest();
        }

        if (context.Response.HasStarted)
        {
            return;
        }

        var outcome = context.Features.Get<IUpstreamAttemptFeature>()?.Outcome;
        if (outcome == AttemptOutcome.Overflow)
        {
            await LocalReply.Overloaded.WriteAsync(context);
        }
        else if (outcome == AttemptOutcome.NoHealthyUpstream)
        {
            // YARP answers a bare 503; Envoy says why (gRPC callers get UNAVAILABLE).
            await LocalReply.NoHealthyUpstream.WriteAsync(context);
        }
    }
}
