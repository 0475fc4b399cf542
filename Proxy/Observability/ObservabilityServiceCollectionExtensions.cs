using Prometheus;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Observability;

public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>A metrics registry per proxy instance, so that several proxies in one process keep separate stats.</summary>
    public static IServiceCollection AddProxyMeshObservability(this IServiceCollection services)
    {
        services.AddSingleton(_ => Metrics.NewCustomRegistry());
        services.AddSingleton<ConfigUpdateMetrics>();
        return services;
    }

    /// <summary><c>GET /metrics</c> on the admin listener, in Prometheus text format.</summary>
    public static IEndpointRouteBuilder MapProxyMeshMetrics(this IEndpointRouteBuilder endpoints)
    {
        endpoints.ServiceProvider.GetRequiredService<ConfigUpdateMetrics>();
        endpoints.MapMetrics("/metrics", endpoints.ServiceProvider.GetRequiredService<CollectorRegistry>())
            .WithMetadata(ListenerBinding.Admin);
        return endpoints;
    }
}
