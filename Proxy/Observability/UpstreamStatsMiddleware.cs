using System.Diagnostics;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Observability.Tracing;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Observability;

/// <summary>First step of the proxy pipeline: times the forwarding of each request and records its outcome per cluster and route.</summary>
internal sealed class UpstreamStatsMiddleware(
    RequestDelegate next,
    UpstreamHostStats hostStats,
    IOptions<StatsOptions> statsOptions,
    IOptions<ProxyMeshOptions> mesh)
{
    private readonly string _zone = mesh.Value.Zone;
    private readonly bool _perHost = statsOptions.Value.PerHost;

    public async Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var cluster = context.Features.Get<UpstreamStats.ClusterSeries>()
            ?? throw new InvalidOperationException("The cluster context must be resolved before upstream stats (UseClusterContext first).");
        var clusterId = cluster.ClusterId;
        var route = cluster.Route(proxy.Route.Config);
        if (Activity.Current is { IsAllDataRequested: true } span)
        {
            span.SetTag(MeshSpanEnricher.RequestIdTag, context.TraceIdentifier);
            span.SetTag(MeshSpanEnricher.ClusterTag, clusterId);
            span.SetTag(MeshSpanEnricher.RouteTag, proxy.Route.Config.RouteId);
            span.SetTag(MeshSpanEnricher.ZoneTag, _zone);
        }

        var observation = context.Features.Get<RequestObservation>();
        var start = Stopwatch.GetTimestamp();
        if (observation is not null)
        {
            observation.UpstreamStartTimestamp = start;
        }

        try
        {
            await next(context);
        }
        finally
        {
            if (observation is not null)
            {
                observation.UpstreamEndTimestamp = Stopwatch.GetTimestamp();
            }

            var error = context.GetForwarderErrorFeature()?.Error ?? ForwarderError.None;
            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            route.Record(context.Response.StatusCode, seconds, error);
            if (_perHost && proxy.ProxiedDestination is { } destination)
            {
                hostStats.Record(clusterId, destination.DestinationId, context.Response.StatusCode, seconds);
            }
        }
    }
}
