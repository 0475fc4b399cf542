using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Observability;

/// <summary>First step of the proxy pipeline: times the forwarding of each request and records its outcome per cluster and route.</summary>
internal sealed class UpstreamStatsMiddleware(RequestDelegate next, UpstreamStats stats)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var start = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            var error = context.GetForwarderErrorFeature()?.Error ?? ForwarderError.None;
            stats.Record(
                proxy.Cluster?.Config.ClusterId ?? proxy.Route.Config.ClusterId ?? "",
                proxy.Route.Config.RouteId,
                context.Response.StatusCode,
                Stopwatch.GetElapsedTime(start).TotalSeconds,
                error is ForwarderError.RequestTimedOut);
        }
    }
}
